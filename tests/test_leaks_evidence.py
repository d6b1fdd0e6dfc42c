"""A leak case's evidence: the fill reached full, the held children were there at the
after snapshot, and only a verdict that rests on seeing no leak needs it.

The values are those of recorded runs (reports/example/results, 7.3.4-private-v4): the
first two cases below passed there, on a filler the OOM killer had ended.
"""

import os
import signal
from collections.abc import Iterator
from typing import Any

from fixtures.private.evidence import (
    fill_shortfall,
    held_shortfall,
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
    assert gap is not None and "killed by SIGKILL" in gap and "124928" in gap
    assert unproven([gap], ISOLATED, []) is not None


def test_a_hog_gone_at_the_after_snapshot_is_no_pressure() -> None:
    # leaks-in-node2-fork-storm, private-v4: the hog yielded full, then was OOM-killed.
    hog = HeldResult(pid=1, info=fill_info(overshoot_pages=0, stopped="full"), ended="SIGKILL")
    gap = pressure_shortfall(hog, {}, alive=False)
    assert gap is not None and "gone (SIGKILL)" in gap
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


def test_only_a_verdict_that_rests_on_seeing_no_leak_needs_the_evidence() -> None:
    gap = ["the filler: child killed by SIGKILL before its workload was in place"]
    assert rests_on_absence(ISOLATED, []) and rests_on_absence(CONTROL, NO_LEAK_SEEN)
    assert unproven(gap, ISOLATED, []) is not None  # would pass on nothing
    assert unproven(gap, CONTROL, NO_LEAK_SEEN) is not None  # would fail on nothing
    assert unproven(gap, ISOLATED, LEAK) is None  # pages seen are a finding
    assert unproven(gap, CONTROL, []) is None  # the detector saw them: it works
    assert unproven([None, None], ISOLATED, []) is None


def test_a_workload_killed_before_it_yielded_is_no_workload() -> None:
    killed = HeldResult(pid=1, signal="SIGKILL")
    gap = held_shortfall("the workload", killed, alive=False)
    assert gap is not None and gap.startswith("the workload: child killed by SIGKILL")
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
        assert gap is not None and "gone (SIGKILL)" in gap
