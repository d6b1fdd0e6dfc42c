"""hugetlb pages under move_pages (LTP move_pages12, selftests mm migration.c): moved
whole to the node asked for, each with that node as its status and its content intact;
and moved while another thread frees and re-faults them, where the kernel must neither
oops nor lose or leak a pool page (each node's nr, free and surplus counts as before).
The per-node pools are grown by a module fixture that puts them back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.knobs.hugetlb import HugetlbPool, hugetlb_unavailable_reason
from fixtures.matrix.common import TopologyTooSmall, or_skip
from fixtures.matrix.hugetlb_migration import (
    HugeMoveCase,
    HugeRaceCase,
    huge_move_cases,
    huge_race_cases,
)
from fixtures.oracle.hugetlb_migration import (
    moved_placement,
    moved_statuses,
    pool_violations,
    race_status_violations,
)
from fixtures.plugin.checks import HarnessError, observed_outcome, require
from fixtures.plugin.verdicts import CaseRecord, unsupported
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.hugetlb_migration import (
    MOVE_PAGES,
    RACE_MAX_SECONDS,
    move_huge_pages,
    pool_counts,
    race_move_and_free,
)

TOO_SMALL = "needs 2 memory nodes"
MATRIX = {
    "move_case": or_skip(huge_move_cases, "move_pages", TOO_SMALL),
    "race_case": or_skip(huge_race_cases, "race", TOO_SMALL),
}

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


@pytest.fixture(scope="module")
def huge_pool(topology: Topology) -> Iterator[HugetlbPool]:
    """MOVE_PAGES + 1 more 2 MiB pages on every memory node, put back after."""
    reason = hugetlb_unavailable_reason(topology.memory_nodes)
    if reason:
        unsupported(reason)
    if os.geteuid() != 0:
        pytest.skip("growing hugetlb pools needs root")
    with HugetlbPool(topology.memory_nodes, MOVE_PAGES + 1) as pool:
        short = pool.shortfall(MOVE_PAGES)
        if short:
            pytest.skip(f"free 2 MiB pages per node {short}, each node needs {MOVE_PAGES}")
        yield pool


def test_move(
    move_case: HugeMoveCase | TopologyTooSmall,
    huge_pool: HugetlbPool,
    case: CaseRecord,
) -> None:
    if isinstance(move_case, TopologyTooSmall):
        pytest.skip(move_case.reason)
    c = move_case
    nodes = huge_pool.nodes
    before = pool_counts(nodes)
    run = observed_outcome(case, run_in_child(partial(move_huge_pages, c.source, c.target, c.cpu)))
    after = pool_counts(nodes)
    expected = moved_placement(c.target, MOVE_PAGES)
    case.expected = {
        **expected.to_json(),
        "statuses": list(moved_statuses(c.target, MOVE_PAGES)),
        "pools": {str(n): p.to_json() for n, p in before.items()},
    }
    case.observed = {**run.to_json(), "pools": {str(n): p.to_json() for n, p in after.items()}}
    if set(run.before) != {c.source}:
        raise HarnessError(f"the huge pages were faulted on {run.before}, not node {c.source}")
    problems = expected.violations(run.after)
    if run.statuses != moved_statuses(c.target, MOVE_PAGES):
        problems.append(f"move_pages statuses {list(run.statuses)}, expected node {c.target} each")
    if not run.content_ok:
        problems.append("a moved huge page lost what was written to it")
    problems += pool_violations(before, after)
    assert not problems, "; ".join(problems)


def test_race(
    race_case: HugeRaceCase | TopologyTooSmall,
    huge_pool: HugetlbPool,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(race_case, TopologyTooSmall):
        pytest.skip(race_case.reason)
    require(profile, kernel_release, "hugetlb_madv_dontneed")
    c = race_case
    nodes = huge_pool.nodes
    before = pool_counts(nodes)
    # The race's own bound plus room for a loaded TCG guest: the default 120 s would
    # call a slow race a hung one.
    outcome = run_in_child(
        partial(race_move_and_free, c.nodes, c.cpus), timeout_s=RACE_MAX_SECONDS + 210
    )
    run = observed_outcome(case, outcome)
    after = pool_counts(nodes)
    case.expected = {
        "rule": "no oops; statuses a target node, -ENOENT, -EFAULT or -EBUSY; pools as before",
        "pools": {str(n): p.to_json() for n, p in before.items()},
    }
    case.observed = {**run.to_json(), "pools": {str(n): p.to_json() for n, p in after.items()}}
    moved = sum(n for s, n in run.statuses.items() if s in c.nodes)
    if run.faults == 0 or moved == 0:
        raise HarnessError(
            f"no race: {run.faults} fault rounds, {moved} pages moved in {run.moves} calls"
        )
    problems = race_status_violations(
        run.statuses, frozenset(c.nodes), unwritten_on_success=run.unwritten_on_success
    )
    problems += pool_violations(before, after)
    assert not problems, "; ".join(problems)
