"""Forked children: values, errnos and deaths come back as outcomes, never as crashes.

One protocol (fixtures/system/child.py) serves both `run_in_child` and `Held`; these run
real forks on the host.
"""

import errno
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.abi.syscalls import get_mempolicy, set_mempolicy
from fixtures.abi.uapi import Mode
from fixtures.system.child import Child, ChildFailed, run_in_child
from fixtures.system.held import Held

needs_numa = pytest.mark.skipif(
    not Path("/sys/devices/system/node/node0").exists(), reason="host kernel without NUMA"
)


def test_value_travels_back() -> None:
    assert run_in_child(lambda: {"pid": os.getpid()}).unwrap()["pid"] != os.getpid()


def test_oserror_becomes_its_errno_name() -> None:
    def fail() -> None:
        raise OSError(errno.EINVAL, "bad mode")

    outcome = run_in_child(fail)
    assert outcome.errno == "EINVAL"
    with pytest.raises(ChildFailed, match="EINVAL"):
        outcome.unwrap()


def test_death_by_signal_is_an_outcome() -> None:
    outcome = run_in_child(lambda: os.kill(os.getpid(), signal.SIGBUS))
    assert outcome.signal == "SIGBUS"
    assert outcome.value is None


def test_other_exceptions_bring_their_traceback() -> None:
    outcome = run_in_child(lambda: 1 // 0)
    assert outcome.error is not None and "ZeroDivisionError" in outcome.error


def test_a_hung_child_is_killed() -> None:
    outcome = run_in_child(lambda: time.sleep(30), timeout_s=0.5)
    assert outcome.timed_out


@needs_numa
def test_the_parent_keeps_the_default_policy() -> None:
    def bind() -> tuple[int, frozenset[int]]:
        set_mempolicy(Mode.MPOL_BIND, {0})
        return get_mempolicy()

    assert run_in_child(bind).unwrap() == (Mode.MPOL_BIND, frozenset({0}))
    assert get_mempolicy() == (Mode.MPOL_DEFAULT, frozenset())


def test_a_grandchild_holding_the_pipe_does_not_hold_the_result(tmp_path: Path) -> None:
    """The report is length-first: a process the workload forks inherits the pipe."""

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        return pid

    start = time.monotonic()
    grandchild = run_in_child(spawn, timeout_s=3).unwrap()
    assert time.monotonic() - start < 2
    os.kill(grandchild, signal.SIGKILL)


class Interrupted(Exception):
    """Stands for Ctrl-C or the case's timeout landing in the parent."""


def _interrupted_after(seconds: float, fn: Any) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with pytest.raises(Interrupted):
            fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_interrupted_parent_takes_its_child_along(tmp_path: Path) -> None:
    started = tmp_path / "child"

    def hold() -> None:
        started.write_text(f"{os.getpid()}")
        time.sleep(30)

    _interrupted_after(1.0, lambda: run_in_child(hold))
    pid = int(started.read_text())
    assert not Path(f"/proc/{pid}").exists(), "the child outlived the interrupted case"


def test_a_parent_interrupted_before_the_held_report_takes_its_child_along(
    tmp_path: Path,
) -> None:
    started = tmp_path / "child"

    def slow() -> Iterator[dict[str, Any]]:
        started.write_text(f"{os.getpid()}")
        time.sleep(30)
        yield {}

    def enter() -> None:
        with Held(slow):
            pass

    _interrupted_after(1.0, enter)
    assert not Path(f"/proc/{int(started.read_text())}").exists()


def test_ctrl_c_while_held_kills_at_once_without_cleanup(tmp_path: Path) -> None:
    cleaned = tmp_path / "cleaned"

    def work() -> Iterator[dict[str, Any]]:
        yield {}
        cleaned.write_text("yes")

    held = Held(work)
    with pytest.raises(KeyboardInterrupt), held:
        raise KeyboardInterrupt
    assert held.result.ended == "SIGKILL" and not cleaned.exists()
    assert not Path(f"/proc/{held.result.pid}").exists()


def test_a_held_child_that_never_reports_times_out_and_is_killed() -> None:
    def stuck() -> Iterator[dict[str, Any]]:
        time.sleep(30)
        yield {}

    with Held(stuck, timeout_s=0.5) as held:
        assert held.result.timed_out and held.result.ended == "SIGKILL"
        assert "timed out" in held.result.describe()


def test_a_held_child_waits_for_its_release() -> None:
    def steps() -> Iterator[int]:
        yield os.getpid()

    child = Child(steps, hold=True)
    pid = child.receive(timeout_s=10).unwrap()
    time.sleep(0.2)
    assert pid == child.pid and child.reap(block=False) is None
    child.release()
    assert child.reap(block=True) == "exit 0"


def test_a_child_that_exits_without_a_report_says_how() -> None:
    def steps() -> Iterator[int]:
        os._exit(3)
        yield 0

    outcome = Child(steps).receive(timeout_s=10)
    assert outcome.error == "child ended (exit 3) without a result"
