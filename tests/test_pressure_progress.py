"""The pressure child's progress page: where a BIND case's time went."""

import time

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
