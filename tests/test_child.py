"""Forked children: values, errnos and deaths come back as outcomes, never as crashes."""

import errno
import os
import signal
import time
from pathlib import Path

import pytest

from fixtures.system.child import ChildFailed, run_in_child


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


class Interrupted(Exception):
    """Stands for Ctrl-C or the case's timeout landing in the parent."""


def test_an_interrupted_parent_takes_its_child_along(tmp_path: Path) -> None:
    started = tmp_path / "child"

    def hold() -> None:
        started.write_text(f"{os.getpid()}")
        time.sleep(30)

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(Interrupted):
            run_in_child(hold)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(started.read_text())
    assert not Path(f"/proc/{pid}").exists(), "the child outlived the interrupted case"
