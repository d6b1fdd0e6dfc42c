from __future__ import annotations

import pytest

from fixtures.oracle.private import PrivateRules
from fixtures.profiles import Profile

pytest_plugins = ["fixtures.plugin"]


@pytest.fixture(scope="module")
def rules(profile: Profile) -> PrivateRules:
    """The profile's [private] rules, for the private-node areas (private_nodes, leaks)."""
    return profile.private
