"""Forked children: values, errnos and deaths come back as outcomes, never as crashes.

One protocol (fixtures/system/child.py) serves both `run_in_child` and `Held`; these run
real forks on the host.
"""

import errno
import functools
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fixtures.abi.syscalls import get_mempolicy, set_mempolicy
from fixtures.abi.uapi import Mode
from fixtures.knobs.base import _cgroup2_mounts
from fixtures.system import child as child_module
from fixtures.system import forkserver
from fixtures.system.child import Child, ChildFailed, reap_exiting, run_in_child
from fixtures.system.forkserver import Forkserver
from fixtures.system.held import Held
from fixtures.workloads.modes import Progress

needs_numa = pytest.mark.skipif(
    not Path("/sys/devices/system/node/node0").exists(), reason="host kernel without NUMA"
)


def test_value_travels_back() -> None:
    assert run_in_child(lambda: {"pid": os.getpid()}).unwrap()["pid"] != os.getpid()


def test_a_report_larger_than_the_pipe_travels_back_whole() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, sixteen times a pipe's buffer
    assert run_in_child(functools.partial(bytes, big)).unwrap() == big


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


def _interrupted_when(due: Any, fn: Any) -> None:
    """Interrupt `fn` at the first tick (every 0.1 s) at which `due()` is true."""

    def interrupt(signum: int, frame: object) -> None:
        if due():
            raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        with pytest.raises(Interrupted):
            fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _interrupted_after(seconds: float, fn: Any) -> None:
    deadline = time.monotonic() + seconds
    _interrupted_when(lambda: time.monotonic() >= deadline, fn)


def _interrupted_once_started(started: Path, fn: Any) -> None:
    """Interrupt `fn` as soon as its child has written `started`: a fixed delay loses the
    race under load (a child that takes two seconds to start writes nothing in time)."""
    _interrupted_when(lambda: started.exists() and bool(started.read_text()), fn)


def test_an_interrupted_parent_takes_its_child_along(tmp_path: Path) -> None:
    started = tmp_path / "child"

    def hold() -> None:
        started.write_text(f"{os.getpid()}")
        time.sleep(30)

    _interrupted_once_started(started, lambda: run_in_child(hold))
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


def test_a_child_left_to_exit_is_reaped_by_reap_exiting() -> None:
    outcome = run_in_child(os.getpid, exit_while_judged=True)
    pid = outcome.unwrap()
    assert Path(f"/proc/{pid}").exists()  # reported, not reaped: running or a zombie
    assert reap_exiting() == []
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _left_exiting_but_alive() -> int:
    """A child that reported and was left to exit, yet is still alive (a held one, which
    waits for its release): its pid."""

    def steps() -> Iterator[int]:
        yield os.getpid()

    child = Child(steps, hold=True)
    pid = child.receive(timeout_s=10).unwrap()
    child_module._EXITING.append(child)
    return pid


def test_a_child_still_exiting_at_teardown_is_waited_for() -> None:
    def steps() -> Iterator[int]:
        yield os.getpid()

    child = Child(steps, hold=True)
    child.receive(timeout_s=10).unwrap()
    child_module._EXITING.append(child)
    release = threading.Timer(0.3, child.release)  # ends it while reap_exiting waits
    release.start()
    try:
        assert reap_exiting(timeout_s=10) == []
    finally:
        release.join()
    assert child.ended == "exit 0"


def test_a_child_killed_after_it_reported_is_named_by_reap_exiting() -> None:
    pid = _left_exiting_but_alive()
    os.kill(pid, signal.SIGKILL)
    assert reap_exiting() == [f"pid {pid}: SIGKILL"]
    assert reap_exiting() == []


def test_a_child_still_there_after_its_report_fails_the_case_instead_of_hanging() -> None:
    pid = _left_exiting_but_alive()  # stands in for an exit stuck in the kernel
    started = time.monotonic()
    assert reap_exiting(timeout_s=0.3) == [f"pid {pid}: still there 0.3 s after its report"]
    assert 0.3 <= time.monotonic() - started < 5
    os.waitpid(pid, 0)  # killed on the way: reaped here at once


def test_a_child_that_did_not_report_is_reaped_at_once_even_if_left_to_exit() -> None:
    outcome = run_in_child(lambda: os.kill(os.getpid(), signal.SIGBUS), exit_while_judged=True)
    assert outcome.signal == "SIGBUS"
    assert child_module._EXITING == []


# The same guarantees through the session's worker (fixtures/system/forkserver.py): the
# workloads below are module-level functions and partials, so they pickle and the worker
# clones their children; `via_worker` checks that it did.


@pytest.fixture
def worker() -> Iterator[Forkserver]:
    server = forkserver.SERVER
    server.counts.clear()
    server.start()
    assert server.wait_ready(60)
    try:
        yield server
    finally:
        server.stop()
        server.counts.clear()
        server.restarts = 0


def via_worker(server: Forkserver, children: int = 1) -> None:
    direct = {why: n for why, n in server.counts.items() if why != "worker"}
    assert server.counts["worker"] == children and not direct, server.counts


def pids() -> tuple[int, int]:
    return os.getpid(), os.getppid()


def raise_signal(signum: int) -> None:
    os.kill(os.getpid(), signum)


def bind_and_read_back() -> tuple[int, frozenset[int]]:
    set_mempolicy(Mode.MPOL_BIND, {0})
    return get_mempolicy()


def record_and_sleep(path: Path, seconds: float) -> None:
    path.write_text(f"{os.getpid()}")
    time.sleep(seconds)


def oom_bias() -> str:
    return Path("/proc/self/oom_score_adj").read_text().strip()


def held_pid() -> Iterator[int]:
    yield os.getpid()


def children_of_this_process() -> set[int]:
    me = os.getpid()
    return {int(p) for p in Path(f"/proc/{me}/task/{me}/children").read_text().split()}


def comm(pid: int) -> bytes:
    return Path(f"/proc/{pid}/comm").read_bytes().strip()


def running_children() -> set[int]:
    """This process's children less the worker and its idle spare: a spare carries the
    worker's name from its clone until it takes a request."""
    return {pid for pid in children_of_this_process() if comm(pid) != forkserver.WORKER_NAME}


def idle_spares(server: Forkserver) -> set[int]:
    worker = server._proc.pid if server._proc else -1
    return children_of_this_process() - running_children() - {worker}


def wait_for_spare(server: Forkserver) -> int:
    deadline = time.monotonic() + 10
    while not (spares := idle_spares(server)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (spare,) = spares
    return spare


class SlowToUnpickle:
    """Holds the worker in its unpickling for a while: the request is in flight."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __setstate__(self, state: dict[str, float]) -> None:
        time.sleep(state["seconds"])
        self.seconds = state["seconds"]


def take_slow(slow: SlowToUnpickle, path: Path) -> None:
    record_and_sleep(path, 30)


def test_the_worker_child_is_a_child_of_this_process(worker: Forkserver) -> None:
    child, parent = run_in_child(pids).unwrap()
    assert parent == os.getpid() and child != os.getpid()
    via_worker(worker)


@needs_numa
def test_the_parent_keeps_the_default_policy_with_the_worker(worker: Forkserver) -> None:
    assert run_in_child(bind_and_read_back).unwrap() == (Mode.MPOL_BIND, frozenset({0}))
    assert get_mempolicy() == (Mode.MPOL_DEFAULT, frozenset())
    via_worker(worker)


@pytest.mark.parametrize("signum", [signal.SIGBUS, signal.SIGKILL])
def test_death_by_signal_is_an_outcome_with_the_worker(worker: Forkserver, signum: int) -> None:
    """SIGKILL is how the OOM killer ends a child."""
    outcome = run_in_child(functools.partial(raise_signal, signum))
    assert outcome.signal == signal.Signals(signum).name and outcome.value is None
    via_worker(worker)


def test_a_hung_worker_child_is_killed(worker: Forkserver, tmp_path: Path) -> None:
    started = tmp_path / "child"
    outcome = run_in_child(functools.partial(record_and_sleep, started, 30), timeout_s=2)
    assert outcome.timed_out
    assert not Path(f"/proc/{int(started.read_text())}").exists()
    via_worker(worker)


def test_an_interrupted_parent_takes_its_worker_child_along(
    worker: Forkserver, tmp_path: Path
) -> None:
    started = tmp_path / "child"
    _interrupted_once_started(
        started, lambda: run_in_child(functools.partial(record_and_sleep, started, 30))
    )
    assert not Path(f"/proc/{int(started.read_text())}").exists()
    via_worker(worker)


def test_an_interrupt_during_the_request_kills_the_child_it_made(
    worker: Forkserver, tmp_path: Path
) -> None:
    """The interrupt waits for the pid, then lands: no child runs on unknown to anybody."""
    assert run_in_child(pids).value  # the worker is up: the request alone is slow
    before = running_children()
    workload = functools.partial(take_slow, SlowToUnpickle(1.0), tmp_path / "child")
    _interrupted_after(0.3, lambda: run_in_child(workload))
    assert running_children() == before
    assert worker.counts["worker"] == 2


def test_the_spare_runs_the_next_case_and_the_worker_clones_another(worker: Forkserver) -> None:
    """The worker clones a child before its request (the spare), named as the worker until
    it takes one; the case's child is that spare, by then named as pytest's children."""
    spare = wait_for_spare(worker)
    child, parent = run_in_child(pids).unwrap()
    assert (child, parent) == (spare, os.getpid())
    assert wait_for_spare(worker) != spare
    via_worker(worker)


def idle_siblings_after(seconds: float, worker: int) -> int:
    """In a worker child: the idle spares beside it (its parent's children named as the
    worker, the worker aside) after `seconds`, time enough for a clone asked for at
    hand-over to land."""
    time.sleep(seconds)
    parent = os.getppid()
    kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return sum(1 for pid in kids if int(pid) != worker and comm(int(pid)) == forkserver.WORKER_NAME)


def test_no_spare_is_cloned_while_a_case_child_runs(worker: Forkserver) -> None:
    """A clone during the case would allocate inside its window (numastat, pressure): the
    next spare is asked for once the child has ended, and comes before the next case."""
    wait_for_spare(worker)
    assert worker._proc is not None
    assert run_in_child(partial(idle_siblings_after, 1.0, worker._proc.pid)).unwrap() == 0
    assert wait_for_spare(worker)
    via_worker(worker)


class UnpickledBy:
    """Notes in `path` the pid of each process that unpickles it, `seconds` after it began."""

    def __init__(self, path: Path, seconds: float = 0.0) -> None:
        self.path = path
        self.seconds = seconds

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        time.sleep(self.seconds)
        with self.path.open("a") as notes:
            notes.write(f"{os.getpid()}\n")


def pid_with(_: UnpickledBy) -> int:
    return os.getpid()


def test_an_idle_spare_rehearses_the_last_workload_before_its_own(
    worker: Forkserver, tmp_path: Path
) -> None:
    """The spare unpickles the last case's workload while idle (its copy-on-write faults
    off the next case's time), before it reads its own: a case's spare is never busy."""
    notes = tmp_path / "unpickled-by"
    first = run_in_child(partial(pid_with, UnpickledBy(notes))).unwrap()
    spare = wait_for_spare(worker)
    deadline = time.monotonic() + 10
    while str(spare) not in notes.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.01)
    unpicklers = [int(pid) for pid in notes.read_text().split()]
    assert worker._proc is not None
    # the first case's own child, the worker (importing for the spares), the new spare
    assert sorted(unpicklers) == sorted([first, worker._proc.pid, spare])
    assert run_in_child(pids).unwrap() == (spare, os.getpid())
    via_worker(worker, children=2)


def other_pid_with(_: UnpickledBy) -> int:
    return os.getpid()


def test_the_worker_gets_a_workload_only_when_its_function_changes(
    worker: Forkserver, tmp_path: Path
) -> None:
    """Each clone leaves the worker's pages write-protected, so an unpickle there costs
    the next spare its faults: the worker unpickles the first workload of a function (its
    imports), not the next ones of the same function, and again for a new function."""
    notes = tmp_path / "unpickled-by"
    assert worker._proc is not None
    for _ in range(3):
        run_in_child(partial(pid_with, UnpickledBy(notes))).unwrap()
        wait_for_spare(worker)
    unpicklers = [int(pid) for pid in notes.read_text().split()]
    assert unpicklers.count(worker._proc.pid) == 1
    run_in_child(partial(other_pid_with, UnpickledBy(notes))).unwrap()
    wait_for_spare(worker)
    deadline = time.monotonic() + 10
    while [int(p) for p in notes.read_text().split()].count(worker._proc.pid) < 2:
        assert time.monotonic() < deadline, "the worker never got the new function"
        time.sleep(0.01)
    via_worker(worker, children=4)


def size_of(data: bytes) -> int:
    return len(data)


def test_a_large_workload_reaches_the_spare_and_the_worker_whole(worker: Forkserver) -> None:
    """Messages are received at their own size (peeked first), not into a fixed buffer."""
    for size in (150_000, 10, 150_001):  # a new function's workload goes to the worker too
        assert run_in_child(partial(size_of, b"x" * size)).unwrap() == size
        wait_for_spare(worker)
    via_worker(worker, children=3)


def test_a_spare_comes_to_pytest_only_once_it_has_rehearsed(
    worker: Forkserver, tmp_path: Path
) -> None:
    """An idle spare at work (its rehearsal) inside the next case's window would allocate
    there: the worker sends it only once the rehearsal is over."""
    notes = tmp_path / "unpickled-by"
    run_in_child(partial(pid_with, UnpickledBy(notes, seconds=0.5))).unwrap()
    assert worker.wait_ready(10)
    spare = worker._take()  # the spare the worker sent, as the next case takes it
    assert spare is not None
    pid, sock = spare
    assert str(pid) in notes.read_text().split()  # its slow rehearsal was already over
    sock.close()
    forkserver._kill(pid)


def ignores_sigint(pid: int | str = "self") -> bool:
    """Whether the task ignores SIGINT (its bit in /proc's SigIgn mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    raise AssertionError(f"no SigIgn in /proc/{pid}/status")


def test_a_rehearsed_spare_is_left_as_the_worker_made_it(worker: Forkserver) -> None:
    """The rehearsal also runs the hand-over's steps, with the idle spare's own values: it
    stays named as the worker and deaf to Ctrl-C (pytest's to handle) until its request;
    the child at work has pytest's children's name and Python's SIGINT handling."""
    run_in_child(pids).unwrap()
    assert worker.wait_ready(10)  # the spare the worker sent has rehearsed
    spare = wait_for_spare(worker)
    assert comm(spare) == forkserver.WORKER_NAME
    assert ignores_sigint(spare)
    assert run_in_child(ignores_sigint).unwrap() is False
    assert run_in_child(name_of_this_process).unwrap() == comm(os.getpid())


def name_of_this_process() -> bytes:
    return Path("/proc/self/comm").read_bytes().strip()


def test_a_worker_child_has_the_name_of_this_process_children(worker: Forkserver) -> None:
    assert run_in_child(name_of_this_process).unwrap() == comm(os.getpid())


def test_a_dead_spare_is_replaced_and_the_case_runs(worker: Forkserver) -> None:
    """The OOM killer may pick an idle spare: its request goes to a fresh one."""
    spare = wait_for_spare(worker)
    os.kill(spare, signal.SIGKILL)
    os.waitpid(spare, 0)
    child, parent = run_in_child(pids).unwrap()
    assert child != spare and parent == os.getpid()
    via_worker(worker)


def test_stopping_the_worker_reaps_its_idle_spare() -> None:
    server = Forkserver()
    server.start()
    assert server.wait_ready(60)
    spare = wait_for_spare(server)
    server.stop()
    assert spare not in children_of_this_process()
    assert not Path(f"/proc/{spare}").exists()


def bias_through_a_worker_of_a_raised_parent() -> tuple[str, int]:
    """In a throwaway process (raising one's bias needs no privilege, lowering it back
    does): raise this process's bias after its worker started, and ask a worker child."""
    forkserver.SERVER.start()
    try:
        assert forkserver.SERVER.wait_ready(60)
        Path("/proc/self/oom_score_adj").write_text("7\n")
        bias = run_in_child(oom_bias).unwrap()
        return bias, forkserver.SERVER.counts["worker"]
    finally:
        forkserver.SERVER.stop()


def test_the_child_has_the_oom_bias_of_this_process() -> None:
    """The pressure area lowers pytest's bias; a direct fork inherited it, so must this."""
    assert run_in_child(lambda: bias_through_a_worker_of_a_raised_parent()).unwrap() == ("7", 1)


def test_a_held_worker_child_waits_for_its_release(worker: Forkserver) -> None:
    child = Child(held_pid, hold=True)
    pid = child.receive(timeout_s=10).unwrap()
    time.sleep(0.2)
    assert pid == child.pid and child.reap(block=False) is None
    child.release()
    assert child.reap(block=True) == "exit 0"
    via_worker(worker)


def test_a_dead_worker_is_restarted_and_never_hangs(worker: Forkserver) -> None:
    assert run_in_child(pids).value
    worker._proc.kill() if worker._proc else None
    worker._proc.wait() if worker._proc else None
    # The spare the worker sent before it died runs this case, or, if none came, the
    # case is forked directly and the loss counted; either way the worker is restarted.
    assert run_in_child(pids).value
    lost = [why for why in worker.counts if why.startswith("direct: worker lost")]
    assert worker.counts["worker"] == (1 if lost else 2)
    assert worker.wait_ready(60)
    assert run_in_child(pids).value  # from the restarted worker
    assert worker.restarts == 1
    assert worker.counts["worker"] == (2 if lost else 3)


def test_what_does_not_pickle_is_forked_directly_and_counted(worker: Forkserver) -> None:
    assert run_in_child(lambda: 42).unwrap() == 42
    ((why, count),) = worker.counts.items()
    assert "<lambda> does not pickle" in why and count == 1


def report_progress(progress: Progress) -> None:
    progress.write(Progress.FAULTING)
    progress.record(5, 4, 1, 2)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_shared_progress_page_reaches_a_worker_child(worker: Forkserver) -> None:
    """Pressure's children are OOM-killed mid-way: what they wrote must still be there."""
    progress = Progress()
    outcome = run_in_child(functools.partial(report_progress, progress))
    assert outcome.signal == "SIGKILL"
    assert progress.phase_name() == "faulting the region"
    assert progress.counts() == {
        "faulted_pages": 5,
        "probed_pages": 4,
        "stray_pages": 1,
        "first_stray_node": 2,
    }
    via_worker(worker)


def environment() -> dict[str, str]:
    return dict(os.environ)


@pytest.mark.parametrize("pythonpath", [None, "/nowhere"])
def test_the_worker_child_has_the_environment_of_this_process(
    monkeypatch: pytest.MonkeyPatch, pythonpath: str | None
) -> None:
    if pythonpath is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", pythonpath)
    server = Forkserver()
    monkeypatch.setattr(forkserver, "SERVER", server)
    monkeypatch.setattr("fixtures.system.child.SERVER", server)
    server.start()
    try:
        assert server.wait_ready(60)
        assert run_in_child(environment).unwrap() == dict(os.environ)
    finally:
        server.stop()
    via_worker(server)


def test_a_worker_child_has_ended_when_its_case_goes_on(worker: Forkserver) -> None:
    """Crash attribution (fixtures/plugin/interrupts.py) reads the kernel log when the case
    ends: whatever the child made the kernel log must be logged by then, so the child is
    reaped (not a zombie, not still exiting) before run_in_child returns."""
    child, _ = run_in_child(pids).unwrap()
    assert not Path(f"/proc/{child}").exists()
    via_worker(worker)


def test_numpy_leaves_the_worker_single_threaded(worker: Forkserver) -> None:
    """numpy's OpenBLAS starts threads unless told otherwise; the worker tells it."""
    pytest.importorskip("numpy")
    assert run_in_child(pids).value
    assert worker._proc is not None
    assert len(list(Path(f"/proc/{worker._proc.pid}/task").iterdir())) == 1
    via_worker(worker)


def test_a_worker_with_a_thread_refuses_and_the_child_is_forked_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(forkserver.EXTRA_ENV, "starts_a_thread")
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "data" / "forkserver"))
    server = Forkserver()
    monkeypatch.setattr("fixtures.system.child.SERVER", server)
    server.start()
    try:
        assert server.wait_ready(60)
        child, parent = run_in_child(pids).unwrap()
    finally:
        server.stop()
    assert parent == os.getpid()
    assert list(server.counts) == [
        "direct: worker refused (RuntimeError: the worker has 2 threads, clone needs one)"
    ]


def fork_and_wait() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.WEXITSTATUS(os.waitpid(pid, 0)[1])


def test_a_worker_child_forks_again_with_numpy_loaded(worker: Forkserver) -> None:
    """OpenBLAS's at-fork handler waits for its threads; a clone of a worker that had any
    has none, so the child's own fork hung (the errors area's shared-page case, once)."""
    pytest.importorskip("numpy")
    assert run_in_child(fork_and_wait, timeout_s=20).unwrap() == 7
    via_worker(worker)


def test_a_worker_still_starting_is_not_waited_for() -> None:
    """Its imports take long on 9p under TCG: the first cases are forked directly."""
    server = Forkserver()
    server.start()
    try:
        assert server.spawn(functools.partial(_once_pid), ()) is None
        assert server.counts == {"direct: worker still starting": 1}
    finally:
        server.stop()


def _once_pid() -> Iterator[int]:
    yield os.getpid()


def test_the_worker_parses_every_c_type_a_workload_names() -> None:
    """A type string cffi first parses in a child costs that child its page faults."""
    root = Path(__file__).parent.parent
    call = re.compile(r'ffi\.(?:new|cast|from_buffer|typeof|sizeof)\(\s*"([^"]+)"')
    named = {
        name
        for folder in ("fixtures", "conformance")
        for path in (root / folder).rglob("*.py")
        for name in call.findall(path.read_text())
    }
    assert named <= set(forkserver.C_TYPES), sorted(named - set(forkserver.C_TYPES))


def _my_cgroup() -> str:
    """This process's cgroup v2 path, as /proc/self/cgroup names it."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def test_a_child_started_inside_a_cgroup_is_in_it_from_its_start(tmp_path: Path) -> None:
    """clone3 CLONE_INTO_CGROUP (the cpuset case's way in: a join would migrate pages)."""
    mounts = _cgroup2_mounts()
    if os.geteuid() != 0 or not mounts:
        pytest.skip("needs root and a cgroup v2 hierarchy")
    group = mounts[0] / f"mempolicy-conformance-test-{os.getpid()}"
    group.mkdir()
    try:
        outcome = run_in_child(_my_cgroup, cgroup=group)
        assert outcome.unwrap() == "/" + str(group.relative_to(mounts[0]))
        assert _my_cgroup() != outcome.value  # this process stayed where it was
    finally:
        group.rmdir()


def test_a_cgroup_that_is_not_one_is_the_caller_s_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        run_in_child(_my_cgroup, cgroup=tmp_path)  # a folder, not a cgroup's
