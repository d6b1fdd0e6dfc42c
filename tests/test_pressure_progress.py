"""The pressure child's progress page: where a BIND case's time went."""

import functools
import os
import signal
import time
import tracemalloc

from fixtures.system.child import run_in_child
from fixtures.system.memory import AnonMapping
from fixtures.workloads.modes import Progress, fault_probed


def test_steps_are_timed_and_a_death_in_the_first_step_is_not_negative() -> None:
    progress = Progress()
    assert progress.seconds(time.monotonic()) == {}  # never faulted: nothing to say
    with AnonMapping(64) as region:
        fault_probed(region, frozenset({0, 1, 2, 3}), progress, step=16)
    ended = time.monotonic()
    seconds = progress.seconds(ended)
    assert seconds["faulting_s"] >= 0 and seconds["after_last_step_s"] >= 0
    assert progress.counts()["faulted_pages"] == 64
    fresh = Progress()
    fresh.stamp(first=True)  # a child killed before its first step finished
    assert fresh.seconds(time.monotonic())["faulting_s"] == 0


def report_room_then_die(progress: Progress) -> None:
    progress.record_room(2060)
    progress.write(Progress.FAULTING)
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_room_measured_before_faulting_outlives_an_oom_kill() -> None:
    progress = Progress()
    assert progress.room() is None  # not measured yet: no bound to judge a kill by
    outcome = run_in_child(functools.partial(report_room_then_die, progress))
    assert outcome.signal == "SIGKILL" and progress.room() == 2060


def test_probed_faulting_keeps_no_list_of_every_address() -> None:
    # Under set_mempolicy the child's own allocations are bound to the full node too:
    # a list of 8,192 addresses is about 330 KiB, each step's 16 a few hundred bytes.
    progress = Progress()
    with AnonMapping(8192) as region:
        tracemalloc.start()
        try:
            fault_probed(region, frozenset({0, 1, 2, 3}), progress, step=16)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert progress.counts()["faulted_pages"] == 8192
    assert peak < 64 << 10, f"{peak} bytes held while faulting"
