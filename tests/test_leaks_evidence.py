"""A leak case's evidence: the fill reached full, the held children were there at the
after snapshot (or the node served no allocation while they were), and only a verdict
that rests on seeing no leak needs it.

The values are those of recorded runs (reports/example/results, 7.3.4-private-v4): the
first two cases below passed there, on a filler the OOM killer had ended.
"""

import os
import signal
from collections.abc import Iterator
from typing import Any

from fixtures.private.evidence import (
    Gap,
    fill_shortfall,
    held_shortfall,
    node_allocations,
    pressure_shortfall,
    rests_on_absence,
    unproven,
)
from fixtures.system.held import Held, HeldResult

ISOLATED, CONTROL = "isolated", "negative-control"
LEAK = ["leak-in on private node 2: {'anon': 534} pages beyond the noise floor"]
NO_LEAK_SEEN = ["negative control: no leak-in on unprotected node 2 in ['anon']"]


def fill_info(**changes: Any) -> dict[str, Any]:
    """leaks-in-node2-anon-pressure on private-v4-closed: full, then 8192 pages past."""
    info = {
        "kind": "anon",
        "allocated_pages": 122880,
        "full_at_pages": 114688,
        "overshoot_pages": 8192,
        "cap_pages": 139264,
        "stopped": "full",
        "room_pages": {"0": 0, "1": 95, "3": 208, "2": 64659},
    }
    return {**info, **changes}


def test_a_filler_killed_before_it_yielded_is_no_pressure() -> None:
    # leaks-in-node2-anon-pressure, private-v4: passed with this filler.
    killed = HeldResult(pid=1, signal="SIGKILL", ended="SIGKILL")
    progress = {"allocated_pages": 124928, "full_at_pages": 118784}
    gap = pressure_shortfall(killed, progress, alive=False)
    assert gap is not None and "killed by SIGKILL" in gap.text and "124928" in gap.text
    assert unproven([gap], ISOLATED, []) is not None


def test_a_hog_gone_at_the_after_snapshot_is_no_pressure() -> None:
    # leaks-in-node2-fork-storm, private-v4: the hog yielded full, then was OOM-killed.
    hog = HeldResult(pid=1, info=fill_info(overshoot_pages=0, stopped="full"), ended="SIGKILL")
    gap = pressure_shortfall(hog, {}, alive=False)
    assert gap is not None and "gone (SIGKILL)" in gap.text
    assert pressure_shortfall(hog, {}, alive=True) is None


def test_a_fill_that_reached_full_and_its_overshoot_is_evidence() -> None:
    assert fill_shortfall(fill_info()) is None
    # The hogs of the workload cases ask for no overshoot: full is enough.
    assert fill_shortfall(fill_info(allocated_pages=114688, overshoot_pages=0)) is None


def test_a_fill_stopped_by_its_deadline_short_of_the_overshoot_names_the_shortfall() -> None:
    short = fill_shortfall(fill_info(allocated_pages=118784, stopped="deadline"))
    assert short is not None
    assert "deadline" in short and "4096 pages past full" in short and "8192" in short


def test_a_fill_that_never_made_the_normal_nodes_full_is_no_pressure() -> None:
    short = fill_shortfall(fill_info(full_at_pages=None, allocated_pages=139264, stopped="cap"))
    assert short is not None and "without the normal nodes full" in short


def test_the_page_cache_fill_must_read_its_whole_file() -> None:
    # Its overshoot is its cap (the file's size, the normal nodes' room + 64 MiB).
    whole = fill_info(kind="file", allocated_pages=146838, full_at_pages=110592, stopped="cap") | {
        "overshoot_pages": 146838,
        "cap_pages": 146838,
    }
    assert fill_shortfall(whole) is None
    # Recorded before the reader's tail was fixed: 150 pages of the file never read.
    tail_left = whole | {"allocated_pages": 146688, "stopped": "end of file"}
    assert fill_shortfall(tail_left) is not None


def test_a_page_cache_fill_that_read_past_the_room_needs_no_full_sighting() -> None:
    # leaks-in-node2-page-cache, private-v4 (7.3.4-private-v4): kswapd kept node 0 above
    # low while the whole file, 34,184 pages more than the normal nodes' room, was read.
    read = {
        "kind": "file",
        "normal_nodes": [0, 1, 3],
        "allocated_pages": 142460,
        "full_at_pages": None,
        "overshoot_pages": 142460,
        "cap_pages": 142460,
        "stopped": "cap",
        "room_pages_at_start": {"0": 45858, "1": 34713, "3": 27705, "2": 62558},
        "room_pages": {"0": 3737, "1": 333, "3": 0, "2": 62818},
    }
    assert fill_shortfall(read) is None
    # Within the room, short of the file's end, an anonymous fill, or no record of which
    # nodes are normal: no evidence without full nodes seen.
    assert fill_shortfall(read | {"room_pages_at_start": {"0": 90000, "1": 34713, "3": 27705}})
    assert fill_shortfall(read | {"allocated_pages": 140000, "stopped": "end of file"})
    assert fill_shortfall(read | {"kind": "anon"})
    assert fill_shortfall({k: v for k, v in read.items() if k != "normal_nodes"})


def test_only_a_verdict_that_rests_on_seeing_no_leak_needs_the_evidence() -> None:
    gap = [Gap("the filler: child killed by SIGKILL before its workload was in place")]
    assert rests_on_absence(ISOLATED, []) and rests_on_absence(CONTROL, NO_LEAK_SEEN)
    assert unproven(gap, ISOLATED, []) is not None  # would pass on nothing
    assert unproven(gap, CONTROL, NO_LEAK_SEEN) is not None  # would fail on nothing
    assert unproven(gap, ISOLATED, LEAK) is None  # pages seen are a finding
    assert unproven(gap, CONTROL, []) is None  # the detector saw them: it works
    assert unproven([None, None], ISOLATED, []) is None


def test_a_workload_killed_before_it_yielded_is_no_workload() -> None:
    killed = HeldResult(pid=1, signal="SIGKILL")
    gap = held_shortfall("the workload", killed, alive=False)
    assert gap is not None and gap.text.startswith("the workload: child killed by SIGKILL")
    assert not gap.freed  # never in place: no count of the node's can stand in for it
    timed_out = HeldResult(pid=1, timed_out=True)
    assert held_shortfall("the workload", timed_out, alive=True) is not None


def test_held_children_on_this_host_give_the_shortfalls() -> None:
    def dies_first() -> Iterator[dict[str, Any]]:
        os.kill(os.getpid(), signal.SIGKILL)
        yield {}

    def holds() -> Iterator[dict[str, Any]]:
        yield fill_info()

    with Held(dies_first) as hog:
        assert pressure_shortfall(hog.result, {}, alive=hog.alive()) is not None
    with Held(holds) as hog:
        assert pressure_shortfall(hog.result, {}, alive=hog.alive()) is None
        os.kill(hog.result.pid, signal.SIGKILL)
        os.waitid(os.P_PID, hog.result.pid, os.WEXITED | os.WNOWAIT)
        gap = pressure_shortfall(hog.result, {}, alive=hog.alive())
        assert gap is not None and "gone (SIGKILL)" in gap.text


# leaks-in-node2-shmem-memfd, private-v4-closed (7.3.4-private-v4): the filler went 6,144
# pages past full normal nodes before the OOM killer took it; node 2's numastat: nothing.
PUSHING_PAST_FULL = {"allocated_pages": 118784, "full_at_pages": 112640}
NODE2_UNTOUCHED = {"numa_hit": 0, "numa_miss": 0, "numa_foreign": 0, "interleave_hit": 0}


def test_a_freed_child_is_answered_only_by_a_node_that_served_no_allocation() -> None:
    killed = HeldResult(pid=1, signal="SIGKILL", ended="SIGKILL")
    gap = pressure_shortfall(killed, PUSHING_PAST_FULL, alive=False)
    assert gap is not None and gap.freed
    untouched = node_allocations(NODE2_UNTOUCHED, counting=True)
    assert untouched == 0
    assert unproven([gap], ISOLATED, [], untouched) is None
    assert unproven([gap], CONTROL, NO_LEAK_SEEN, untouched) is None  # saw none: none there
    # The node served something in the window: what was freed may have been there.
    served = node_allocations(NODE2_UNTOUCHED | {"numa_miss": 3}, counting=True)
    assert unproven([gap], ISOLATED, [], served) is not None
    # Counters off (vm.numa_stat=0) or absent: the zero means nothing.
    assert node_allocations(NODE2_UNTOUCHED, counting=False) is None
    assert node_allocations({"numa_hit": 0}, counting=True) is None
    assert unproven([gap], ISOLATED, [], None) is not None


def test_a_child_never_in_place_is_not_answered_by_the_node() -> None:
    killed_early = HeldResult(pid=1, signal="SIGKILL", ended="SIGKILL")
    never_full = pressure_shortfall(killed_early, {"allocated_pages": 9000}, alive=False)
    raised = HeldResult(pid=1, error="Traceback ...", ended="exit 70")
    raised_gap = pressure_shortfall(raised, PUSHING_PAST_FULL, alive=False)
    short_hog = HeldResult(pid=1, info=fill_info(allocated_pages=118784, stopped="deadline"))
    short_gap = pressure_shortfall(short_hog, {}, alive=False)
    for gap in (never_full, raised_gap, short_gap):
        assert gap is not None and not gap.freed
        assert unproven([gap], ISOLATED, [], 0) is not None


def test_a_hog_whose_fill_was_whole_and_then_died_was_in_place() -> None:
    # leaks-in-node2-fork-storm: full, no overshoot asked, OOM-killed during the workload.
    hog = HeldResult(pid=1, info=fill_info(overshoot_pages=0, stopped="full"), ended="SIGKILL")
    gap = pressure_shortfall(hog, {}, alive=False)
    assert gap is not None and gap.freed
    assert unproven([gap, None], ISOLATED, [], 0) is None
