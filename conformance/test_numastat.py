"""numactl's regress test, the numastat part: nodeN/numastat moves as the policy says when
a child pinned to the first CPU write-faults N base pages (fixtures/oracle/numastat.py has
what counts where, from the kernel source).

- `bind-local-nodeC`: numa_hit and local_node grow by N on the CPU's node;
- `bind-remote-nodeR`: numa_hit and other_node by N on R;
- `interleave-*`, `weighted-interleave-*`: numa_hit and interleave_hit on each node by its
  pages (the interleave index of every page is known), local_node/other_node by where;
- `preferred-full-nodeR`: R held full by a hog process; each page that went elsewhere is
  a numa_miss where it landed and a numa_foreign on R;
- `thp-bind-local-nodeC`: the same N pages as PMD-sized THPs. numastat.rst says "All
  units are pages", so numa_hit must grow by N; the kernel counts one per allocation
  (zone_statistics(..., 1) in rmqueue), 1 per THP: a finding on every kernel.

The counters are global: each one must grow by at least what our pages make, and by at
most that plus twice the largest growth seen over idle windows as long as the faults
(measured by the same child just after) plus the profile's `numastat_slack_allocations`.
vm.numa_stat is set to 1 and NUMA balancing to 0 for the module, both put back after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.base import oom_score_adj
from fixtures.knobs.sysctl import Sysctl
from fixtures.matrix.numastat import NumastatCase, numastat_cases
from fixtures.oracle.numastat import CounterBounds, counts_interleave_hit, events, wanted_nodes
from fixtures.plugin.checks import (
    HarnessError,
    observed_outcome,
    policy_features,
    require,
    require_thp,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.system.zones import node_room
from fixtures.workloads.modes import NodeHogs
from fixtures.workloads.numastat import fault_counted

MATRIX = {"numastat_case": numastat_cases}

PAGES = 4096  # 16 MiB: far above the idle noise of a quiet guest
SPILL_PAGES = 8192  # beyond the full node's room, for the PREFERRED case
HEADROOM_PAGES = 2048
CHILD_TIMEOUT_S = 300.0


@pytest.fixture(scope="module", autouse=True)
def counters_on() -> Iterator[None]:
    """vm.numa_stat=1 (0 stops every counter) and NUMA balancing off (its migrations
    allocate too); both put back after the module."""
    if os.geteuid() != 0:
        yield
        return
    with Sysctl("vm.numa_stat", "1"), Sysctl("kernel.numa_balancing", "0"):
        yield


@pytest.fixture(scope="module")
def hogs() -> Iterator[NodeHogs]:
    """Processes holding a node full for the PREFERRED case, freed when the module ends."""
    with oom_score_adj(-500, best_effort=True), NodeHogs() as held:
        yield held


def test_numastat(
    numastat_case: NumastatCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
    hogs: NodeHogs,
) -> None:
    c = numastat_case
    case.params = c.params()
    require(profile, kernel_release, *policy_features(c.policy))
    npages = PAGES
    if c.thp:
        require_thp()
    if c.full is not None:
        if os.geteuid() != 0:
            pytest.skip("holding a node full needs root (oom_score_adj)")
        hogs.hold({c.full}, HEADROOM_PAGES)
        npages = node_room(c.full).above_low + SPILL_PAGES
    case.params["pages"] = npages
    nodes = topology.memory_nodes
    run = observed_outcome(
        case,
        run_in_child(
            partial(fault_counted, c.policy, npages, c.cpu, nodes, thp=c.thp),
            timeout_s=CHILD_TIMEOUT_S,
        ),
    )
    wanted = wanted_nodes(
        topology,
        c.policy,
        profile,
        kernel_release,
        npages=npages,
        vm_pgoff=run.vm_pgoff,
        cpu_node=c.cpu_node,
        weights=run.weights or None,
    )
    if c.full is not None:
        spilled = sum(1 for n in run.landed if n != c.full)
        if spilled < npages // 4:
            raise HarnessError(f"only {spilled} of {npages} pages left full node {c.full}")
    low = events(
        wanted,
        run.landed,
        cpu_node=c.cpu_node,
        interleave=counts_interleave_hit(c.policy),
        nodes=nodes,
    )
    bounds = CounterBounds(low, run.noise, profile.tolerance("numastat_slack_allocations"))
    case.expected = bounds.to_json()
    case.observed = {
        "delta": {k: {str(n): v for n, v in per.items()} for k, per in run.delta.items()},
        "pages": {str(n): run.landed.count(n) for n in sorted(set(run.landed))},
        "fault_s": round(run.fault_s, 3),
    }
    loud = bounds.too_noisy()
    if loud:
        raise HarnessError(f"the counters are too noisy to tell our pages: {loud}")
    problems = bounds.violations(run.delta)
    assert not problems, "; ".join(problems)
