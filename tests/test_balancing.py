"""The NUMA-balancing cases of the flags area: the scanner's pass count read from
/proc/<pid>/sched, and how a case is judged beside its control, on data recorded in
guests (Debian 6.12 under TCG), no VM needed."""

from functools import partial
from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode, ModeFlag
from fixtures.matrix.flags import BalancingCase
from fixtures.oracle.modes import balancing_placement
from fixtures.oracle.placement import Policy
from fixtures.plugin.checks import HarnessError, check_balancing
from fixtures.plugin.verdicts import CaseRecord
from fixtures.system.probe import Placement, counts_of
from fixtures.workloads.balancing import (
    BalancingRun,
    ControlRun,
    ScanMark,
    numa_scan_seq,
    read_scan_seq,
)

DATA = Path(__file__).parent / "data" / "sched"
PAGES = 256
NO_FLAG = BalancingCase(flagged=False, start=0, to=1, start_cpu=0, to_cpu=1)
FLAGGED = BalancingCase(flagged=True, start=0, to=1, start_cpu=0, to_cpu=1)


def test_the_scan_sequence_is_read_from_a_guest_sched_file() -> None:
    # The child of a 6.12 run, read when its control had moved.
    text = (DATA / "debian-6.12-balancing-child.txt").read_text()
    assert numa_scan_seq(text) == 2
    # A kernel without CONFIG_NUMA_BALANCING prints no numa lines at all.
    without = "\n".join(line for line in text.splitlines() if "numa" not in line)
    assert numa_scan_seq(without) is None
    assert read_scan_seq(DATA / "absent") is None  # no CONFIG_SCHED_DEBUG before 6.16


def test_only_the_no_flag_case_has_a_control_with_the_flag() -> None:
    assert FLAGGED.control is None
    assert NO_FLAG.control == Policy(
        Mode.MPOL_BIND, frozenset({0, 1}), ModeFlag.MPOL_F_NUMA_BALANCING
    )
    assert NO_FLAG.params()["control_policy"] == NO_FLAG.control.to_json()
    assert "control_policy" not in FLAGGED.params()


def placed(*runs: tuple[int, int]) -> Placement:
    """`runs` of (node, pages), in page order."""
    per_page = tuple(node for node, count in runs for _ in range(count))
    return Placement(per_page, counts_of(per_page))


def no_flag_run(
    region: Placement, control: Placement, moved: ScanMark | None, end: ScanMark
) -> BalancingRun:
    assert NO_FLAG.control is not None
    ran = ControlRun(NO_FLAG.control, placed((0, PAGES)), control, moved, end)
    return BalancingRun(placed((0, PAGES)), region, end.seconds, end.rounds, ran)


# 6.12, load 7: the control all on node 1 at round 544 (numa_scan_seq 1), the margin's
# 16 rounds later the end.
MOVED = ScanMark(0.81, 544, 1)
END = ScanMark(0.83, 560, 1)


def judge(c: BalancingCase, run: BalancingRun) -> CaseRecord:
    """check_balancing as test_numa_balancing_migrates calls it."""
    case = CaseRecord()
    where = partial(balancing_placement, start=0, used_from=1, npages=PAGES)
    check_balancing(case, where(c.policy), run, where(c.control) if c.control else None)
    return case


def test_a_region_that_stayed_beside_a_control_that_moved_passes() -> None:
    case = judge(NO_FLAG, no_flag_run(placed((0, PAGES)), placed((1, PAGES)), MOVED, END))
    assert case.observed is not None and case.expected is not None
    assert case.observed["pages"] == {"0": PAGES}
    control = case.observed["control"]
    assert isinstance(control, dict)
    assert control["pages"] == {"1": PAGES}
    assert control["moved"] == {"seconds": 0.81, "rounds": 544, "scan_seq": 1}
    assert case.expected["control"] == {
        "pages": {"1": PAGES},
        "rule": "NUMA balancing moves them to the using CPU's node 1, in the mask",
    }


def test_a_control_that_never_moved_leaves_the_case_unjudged() -> None:
    # As if balancing never got to the task: the budget spent, no page moved.
    end = ScanMark(20.01, 44800, 0)
    run = no_flag_run(placed((0, PAGES)), placed((0, PAGES)), None, end)
    with pytest.raises(HarnessError, match="control region .* did not all move in 20.0 s"):
        judge(NO_FLAG, run)


def test_a_control_with_one_page_left_behind_leaves_the_case_unjudged() -> None:
    # What the flagged case saw on 7.3.4-private-v4 (before the pass count was recorded):
    # page 255 stayed on node 0.
    end = ScanMark(20.1, 3168, None)
    run = no_flag_run(placed((0, PAGES)), placed((1, PAGES - 1), (0, 1)), None, end)
    with pytest.raises(HarnessError, match="1 pages on the wrong node, first page 255"):
        judge(NO_FLAG, run)


def test_a_control_all_moved_only_when_the_budget_ran_out_is_not_enough() -> None:
    end = ScanMark(20.0, 44800, 3)
    run = no_flag_run(placed((0, PAGES)), placed((1, PAGES)), None, end)
    with pytest.raises(HarnessError, match="only once the budget ran out"):
        judge(NO_FLAG, run)


def test_a_region_that_moved_fails_whatever_the_control_did() -> None:
    # The mutation run on 6.12: the region under test given the flag as well.
    moved, end = ScanMark(7.03, 7344, 2), ScanMark(7.04, 7360, 2)
    run = no_flag_run(placed((1, PAGES)), placed((1, PAGES)), moved, end)
    with pytest.raises(AssertionError, match="256 pages on the wrong node"):
        judge(NO_FLAG, run)
    # One page that moved is a finding even beside a control that did not move.
    stalled = no_flag_run(placed((0, 7), (1, 1), (0, PAGES - 8)), placed((0, PAGES)), None, end)
    with pytest.raises(AssertionError, match="first page 7"):
        judge(NO_FLAG, stalled)


def test_the_flagged_case_is_judged_on_its_own_pages() -> None:
    moved = BalancingRun(placed((0, PAGES)), placed((1, PAGES)), 0.7, 1088)
    assert judge(FLAGGED, moved).observed == {"pages": {"1": PAGES}, "seconds": 0.7, "rounds": 1088}
    stayed = BalancingRun(placed((0, PAGES)), placed((1, PAGES - 1), (0, 1)), 20.1, 3168)
    with pytest.raises(AssertionError, match="after 20.1 s of use"):
        judge(FLAGGED, stayed)
