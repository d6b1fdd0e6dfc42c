"""Host side of the suite: topologies, kernels, booting the guest, getting results out."""
