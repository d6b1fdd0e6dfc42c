from __future__ import annotations

import pytest

from fixtures.oracle import private as private_oracle
from fixtures.oracle.private import PrivateRules

pytest_plugins = ["fixtures.plugin"]


@pytest.fixture(scope="module")
def rules(request: pytest.FixtureRequest) -> PrivateRules:
    """The profile's [private] rules, for the private-node areas (private_nodes, leaks)."""
    return private_oracle.load_rules(request.config.getoption("--profile"))
