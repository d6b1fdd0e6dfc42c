"""The mode flags: what get_mempolicy reads back, where pages land, and how a policy is
remapped when its cpuset's mems change.

- `static-nodes-*`, `relative-nodes-*`, `numa-balancing-*`: a policy set with the flag,
  read back (the mode with the flag, the nodemask as the user passed it) and faulted.
  `relative-nodes-fold-*` names node positions past the number of allowed nodes, which
  MPOL_F_RELATIVE_NODES folds back onto the first allowed nodes.
- `numa-balancing-migrate-*`, `no-flag-migrate-*`: with kernel.numa_balancing=1 (set by
  a fixture, put back after), pages faulted on one node under BIND over two, then read
  from a CPU of the other node, move there with MPOL_F_NUMA_BALANCING within
  BALANCING_BUDGET_S, and stay without it. The no-flag region has a control just above
  it, the same BIND nodes with the flag, faulted and read with it in the same child: the
  region is judged a few rounds of reads after the control has all moved, within
  BALANCING_BUDGET_S (why that suffices: fixtures/workloads/balancing.py `control_run`);
  a control that did not all move leaves the case unjudged, an error, not a pass.
- `*-remap-*`: the child joins a cgroup v2 cpuset with mems `old`, sets the policy, the
  cgroup's cpuset.mems becomes `new` (mpol_rebind_task / mpol_rebind_mm), then the child
  reads the policy back and faults the region. Without a flag the nodes are remapped by
  position, with STATIC_NODES they are the user's nodes that are still allowed, with
  RELATIVE_NODES the user's nodemask is mapped onto the new mems. The cgroup and the
  root's +cpuset are removed again afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.base import CpusetCgroup, CpusetCgroups, KnobUnavailable
from fixtures.knobs.sysctl import Sysctl
from fixtures.matrix import FlagCase, RebindCase, TooFewNodes, flag_cases, rebind_cases
from fixtures.matrix.flags import BalancingCase, balancing_cases
from fixtures.oracle.modes import (
    PolicyState,
    balancing_placement,
    create_state,
    rebind_state,
    state_placement,
    state_readback,
)
from fixtures.oracle.placement import Expectation, Readback
from fixtures.plugin.checks import (
    HarnessError,
    anon_run,
    check_balancing,
    observed_outcome,
    policy_features,
    require,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.probe import Placement
from fixtures.system.topology import Topology
from fixtures.workloads.balancing import BalancingRun, balancing_run
from fixtures.workloads.modes import (
    RebindRun,
    own_cpuset_effective,
    rebind_run,
    status_mems_allowed,
)
from fixtures.workloads.placement import DEFAULT_PAGES

MATRIX = {
    "flag_case": flag_cases,
    "rebind_case": rebind_cases,
    "balancing_case": balancing_cases,
}
BALANCING_PAGES = 256
BALANCING_BUDGET_S = 20.0  # wall time for the pages (or the control) to move; 6.12 TCG: 1 s


@pytest.fixture(scope="module")
def cpusets() -> Iterator[CpusetCgroups]:
    """Makes the cpuset cgroups of this module; +cpuset in the root's subtree_control stays
    on for the module and is switched back off (if it was off) at its end."""
    with CpusetCgroups() as groups:
        yield groups


@pytest.fixture
def cpuset(cpusets: CpusetCgroups) -> Iterator[list[CpusetCgroup]]:
    """The cgroups one case made, removed when it ends (its child has exited by then)."""
    made: list[CpusetCgroup] = []
    yield made
    for group in made:
        cpusets.remove(group)


def check_policy(
    case: CaseRecord,
    readback: Readback,
    expected: Expectation,
    observed_readback: tuple[int, frozenset[int]],
    placement: Placement,
    *,
    before: tuple[Readback, tuple[int, frozenset[int]]] | None = None,
) -> None:
    """Record and assert what get_mempolicy said (also `before` the mems changed, for a
    remap case) and where the pages went."""
    case.expected = {"readback": readback.to_json(), "placement": expected.to_json()}
    case.observed = {
        "readback": _readback_json(observed_readback),
        "placement": {"pages": {str(n): c for n, c in placement.counts.items()}},
    }
    problems = _readback_problems("", readback, observed_readback)
    if before is not None:
        case.expected["readback_before"] = before[0].to_json()
        case.observed["readback_before"] = _readback_json(before[1])
        problems += _readback_problems("before the mems changed, ", *before)
    problems += expected.violations(placement.per_page)
    assert not problems, "; ".join(problems)


def _readback_json(observed: tuple[int, frozenset[int]]) -> dict[str, object]:
    return {"mode": observed[0], "nodes": sorted(observed[1])}


def _readback_problems(
    when: str, expected: Readback, observed: tuple[int, frozenset[int]]
) -> list[str]:
    mode, nodes = observed
    if (mode, nodes) == (expected.mode, expected.nodes):
        return []
    return [
        f"{when}get_mempolicy read back mode {mode:#x} nodes {sorted(nodes)}, expected mode "
        f"{expected.mode:#x} nodes {sorted(expected.nodes)}"
    ]


def _placement(
    c: FlagCase | RebindCase,
    topology: Topology,
    state: PolicyState,
    allowed: frozenset[int],
    profile: Profile,
    release: str,
    vm_pgoff: int,
) -> Expectation:
    """Where DEFAULT_PAGES faulted under `state` (the policy as the kernel holds it, with
    `allowed` the mems) land."""
    return state_placement(
        topology,
        state,
        allowed,
        profile,
        release,
        api=c.api,
        npages=DEFAULT_PAGES,
        vm_pgoff=vm_pgoff,
        cpu_node=c.cpu_node,
    )


def test_flag(
    flag_case: FlagCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = flag_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    require(profile, kernel_release, *policy_features(c.policy))
    # The cpuset's mems, which the forked child inherits (not MPOL_F_MEMS_ALLOWED: that is
    # what the readback cases check against the cpuset).
    cpuset = own_cpuset_effective()
    # Public memory only: a relative mask that names no private node must fold over the
    # public nodes (the series' promise; fixtures/oracle/randmap.py says where RFC v4 differs).
    public = frozenset(topology.memory_nodes)
    allowed = (cpuset if cpuset is not None else status_mems_allowed()) & public
    run = anon_run(case, c, DEFAULT_PAGES)
    state = create_state(c.policy, allowed)
    expected = _placement(c, topology, state, allowed, profile, kernel_release, run.vm_pgoff)
    observed = (run.readback_mode, run.readback_nodes)
    check_policy(case, state_readback(state), expected, observed, run.placement)


def test_remap_after_cpuset_change(
    rebind_case: RebindCase | TooFewNodes,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
    cpusets: CpusetCgroups,
    cpuset: list[CpusetCgroup],
) -> None:
    c = rebind_case
    if isinstance(c, TooFewNodes):
        pytest.skip(c.reason)
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    require(profile, kernel_release, *policy_features(c.policy))
    try:
        group = cpusets.create(c.old_mems)
    except KnobUnavailable as exc:
        pytest.skip(f"needs a cgroup v2 cpuset: {exc}")
    cpuset.append(group)
    outcome = run_in_child(
        partial(rebind_run, c.api, c.policy, group, c.new_mems, DEFAULT_PAGES, c.cpu)
    )
    run: RebindRun = observed_outcome(case, outcome)
    if (run.cpuset_before, run.cpuset_after) != (c.old_mems, c.new_mems):
        raise HarnessError(
            f"the cpuset's effective mems were {sorted(run.cpuset_before)} then "
            f"{sorted(run.cpuset_after)}, not {sorted(c.old_mems)} then {sorted(c.new_mems)}"
        )
    # MPOL_F_MEMS_ALLOWED is checked against the cpuset, never taken as an input.
    if (run.mems_before, run.mems_after) != (run.cpuset_before, run.cpuset_after):
        case.expected = {"mems_allowed": [sorted(c.old_mems), sorted(c.new_mems)]}
        case.observed = {"mems_allowed": [sorted(run.mems_before), sorted(run.mems_after)]}
        raise AssertionError(
            f"MPOL_F_MEMS_ALLOWED read {sorted(run.mems_before)} then {sorted(run.mems_after)}, "
            f"the cpuset's effective mems were {sorted(c.old_mems)} then {sorted(c.new_mems)}"
        )
    made = create_state(c.policy, c.old_mems)
    state = rebind_state(made, c.new_mems, profile, kernel_release)
    expected = _placement(c, topology, state, c.new_mems, profile, kernel_release, run.vm_pgoff)
    check_policy(
        case,
        state_readback(state),
        expected,
        run.readback_after,
        run.placement,
        before=(state_readback(made), run.readback_before),
    )


class TestNumaBalancing:
    """The balancing cases, under one switch of kernel.numa_balancing for all of them:
    each switch patches the kernel's text at its static key's sites, and under
    multi-threaded TCG a vCPU sometimes ran a stale int3 left by the patching ("Oops:
    int3" in task_numa_fault, README). One on and one off instead of one per case."""

    @pytest.fixture(scope="class")
    def numa_balancing(self) -> Iterator[Sysctl]:
        """kernel.numa_balancing=1 for these cases, the old value written back after."""
        with Sysctl("kernel.numa_balancing", "1") as knob:
            if not knob.exists:
                pytest.skip("no kernel.numa_balancing: a kernel without CONFIG_NUMA_BALANCING")
            yield knob

    def test_numa_balancing_migrates(
        self,
        balancing_case: BalancingCase | TooFewNodes,
        profile: Profile,
        kernel_release: str,
        case: CaseRecord,
        numa_balancing: Sysctl,
    ) -> None:
        c = balancing_case
        if isinstance(c, TooFewNodes):
            pytest.skip(c.reason)
        case.params = {**c.params(), "mapping": "anon_private", "pages": BALANCING_PAGES}
        require(profile, kernel_release, *policy_features(c.policy))
        if c.control is not None:
            require(profile, kernel_release, *policy_features(c.control))
        outcome = run_in_child(
            partial(
                balancing_run,
                c.policy,
                BALANCING_PAGES,
                c.start_cpu,
                c.to_cpu,
                c.to,
                budget_s=BALANCING_BUDGET_S,
                control=c.control,
            ),
            timeout_s=BALANCING_BUDGET_S + 120,
        )
        run: BalancingRun = observed_outcome(case, outcome)
        first = [("region", run.before)] + (
            [("control", run.control.before)] if run.control else []
        )
        for what, before in first:
            if set(before.per_page) != {c.start}:
                raise HarnessError(
                    f"the {what}'s first faults landed on {before.counts}, not node {c.start}"
                )
        where = partial(balancing_placement, start=c.start, used_from=c.to, npages=BALANCING_PAGES)
        control = where(c.control) if c.control is not None else None
        check_balancing(case, where(c.policy), run, control)
