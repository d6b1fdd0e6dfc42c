"""The newer modes land pages where their documentation says, without memory pressure.

- MPOL_PREFERRED_MANY (5.15): the mask's node nearest the faulting CPU, from every CPU
  node; get_mempolicy reads the mode and mask back.
- MPOL_WEIGHTED_INTERLEAVE (6.9): with weights written to
  /sys/kernel/mm/mempolicy/weighted_interleave (and put back), a VMA policy places every
  page by its interleave index over a whole number of weight rounds; a task policy keeps
  the weighted shares.
- set_mempolicy_home_node (5.17): BIND and PREFERRED_MANY start from the home node, so
  pages land on it when it is in the mask, else on the mask's node nearest to it.

A kernel older than the feature reports the case `unsupported` (profile gates).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.base import InterleaveWeights, KnobUnavailable
from fixtures.matrix import (
    ModeCase,
    TooFewNodes,
    home_node_cases,
    preferred_many_cases,
    preferred_many_readback_cases,
    weighted_interleave_cases,
)
from fixtures.matrix.modes import GateCase, gate_cases
from fixtures.oracle.modes import home_node_placement
from fixtures.plugin.checks import (
    check_anon_placement,
    check_anon_readback,
    check_placement,
    observed_outcome,
    policy_features,
    require,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.modes import home_node_run, probe_feature
from fixtures.workloads.placement import DEFAULT_PAGES

MATRIX = {
    "gate_case": gate_cases,
    "pm_case": preferred_many_cases,
    "pm_readback_case": preferred_many_readback_cases,
    "wi_case": weighted_interleave_cases,
    "home_case": home_node_cases,
}

READBACK_PAGES = 1


@pytest.fixture
def il_weights() -> Iterator[InterleaveWeights]:
    """The sysfs weights, untouched until a case sets them, restored after it even when it
    fails."""
    with InterleaveWeights() as knob:
        yield knob


def test_preferred_many_placement(
    pm_case: ModeCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = pm_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    require(profile, kernel_release, *policy_features(c.policy))
    check_anon_placement(case, c, topology, profile, kernel_release, npages=DEFAULT_PAGES)


def test_preferred_many_readback(
    pm_readback_case: ModeCase, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    c = pm_readback_case
    case.params = c.params()
    require(profile, kernel_release, *policy_features(c.policy))
    check_anon_readback(case, c, profile, kernel_release, npages=READBACK_PAGES)


def weighted_pages(c: ModeCase) -> int:
    """A whole number of weight rounds, at least DEFAULT_PAGES pages."""
    rounds = sum(c.mask_weights.values())
    return -(-DEFAULT_PAGES // rounds) * rounds


def test_weighted_interleave(
    wi_case: ModeCase | TooFewNodes,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
    il_weights: InterleaveWeights,
) -> None:
    c = wi_case
    if isinstance(c, TooFewNodes):
        pytest.skip(c.reason)
    npages = weighted_pages(c)
    case.params = {**c.params(), "mapping": "anon_private", "pages": npages}
    require(profile, kernel_release, *policy_features(c.policy))
    try:
        il_weights.set(dict(c.weights))
    except KnobUnavailable as exc:  # bare metal whose automatic weights cannot come back
        pytest.skip(f"cannot set the weights and put them back: {exc}")
    check_anon_placement(
        case, c, topology, profile, kernel_release, npages=npages, weights=c.mask_weights
    )


def test_home_node(
    home_case: ModeCase | TooFewNodes,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = home_case
    if isinstance(c, TooFewNodes):
        pytest.skip(c.reason)
    assert c.home_node is not None
    home = c.home_node
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    require(profile, kernel_release, "set_mempolicy_home_node", *policy_features(c.policy))
    run = observed_outcome(
        case, run_in_child(partial(home_node_run, c.policy, home, DEFAULT_PAGES, c.cpu))
    )
    expected = home_node_placement(topology, c.policy, home, npages=DEFAULT_PAGES)
    check_placement(case, expected, run)


def test_gate(gate_case: GateCase, profile: Profile, kernel_release: str, case: CaseRecord) -> None:
    """A version gate of the profile agrees with the kernel asked directly. Both answers
    are recorded: a backport (a distro kernel with the feature before its release) or a
    wrong gate shows here, not as a pile of `unsupported` cases."""
    c = gate_case
    case.params = c.params()
    gate = profile.has(c.feature, kernel_release)
    if c.feature == "MPOL_F_NUMA_BALANCING_preferred_many":
        require(profile, kernel_release, "MPOL_PREFERRED_MANY")
    probed = observed_outcome(case, run_in_child(partial(probe_feature, c.feature, c.node)))
    case.expected = {
        "has": gate,
        "rule": profile.unsupported_reason(c.feature, kernel_release)
        or f"{c.feature}: the profile's gate {profile.features.get(c.feature)} is met",
    }
    case.observed = {"has": probed}
    assert probed == gate, (
        f"the kernel {'has' if probed else 'lacks'} {c.feature}; the profile's release gate "
        f"says it {'has' if gate else 'lacks'} it"
    )
