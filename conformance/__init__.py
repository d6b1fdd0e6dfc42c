"""The conformance matrix: one module per area, expectations from fixtures.oracle."""
