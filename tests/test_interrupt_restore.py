"""On bare metal, a run cut short by Ctrl-C (SIGINT) or by a cancelled CI job (SIGTERM)
leaves the host as it found it: the sysctl, the weighted-interleave weights, node 0's
hugetlb pool, the cpuset cgroup and the root's subtree_control, and no process behind.

Each (signal, moment) starts one real pytest over tests/data/interrupt/hold_knobs.py,
which changes every knob this host has with the suite's own classes and fixtures, says so
and blocks; the signal then goes to that pytest (or, as a terminal's Ctrl-C does, to its
whole process group), and each knob is one row here: changed while held, back exactly as
measured before once pytest has ended. Whatever the verdict, the host is then put back
from that measurement, so a failing row changes nothing either.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from fixtures.knobs.base import WEIGHTS_DIR, InterleaveWeights, _cgroup2_mounts
from fixtures.knobs.hugetlb import hugetlb_unavailable_reason, pool_dir
from fixtures.knobs.sysctl import PROC_SYS
from tests.helpers import default_signals
from vm.runner import REPO_ROOT

MODULE = Path(__file__).parent / "data" / "interrupt" / "hold_knobs.py"
SYSCTL = PROC_SYS / "vm" / "stat_interval"  # the one hold_knobs.py changes
NODE = 0
POOL_FILES = ("nr_hugepages", "free_hugepages", "surplus_hugepages")
CGROUP_PREFIX = "mempolicy-conformance-"  # CpusetCgroups' names
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 60.0

# Where the signal finds the case: blocking in pytest itself, or in its run_in_child
# child, with the signal sent to pytest alone (`kill PID`) or to its group (Ctrl-C).
MOMENTS = {
    "in-test": ("test", False),
    "in-child": ("child", False),
    "in-child-group": ("child", True),
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}

HostState = dict[str, object]


def read(path: Path) -> str:
    return path.read_text().strip()


def cpuset_v2_root() -> Path | None:
    for mount in _cgroup2_mounts():
        if "cpuset" in read(mount / "cgroup.controllers").split():
            return mount
    return None


def cpuset_unavailable() -> str | None:
    if cpuset_v2_root() is not None:
        return None
    offered = {str(m): read(m / "cgroup.controllers") for m in _cgroup2_mounts()}
    return f"the cpuset controller is not on cgroup v2 (bound to v1?); v2 offers {offered}"


def weights_unavailable() -> str | None:
    if not (WEIGHTS_DIR / f"node{NODE}").exists():
        return f"no {WEIGHTS_DIR}/node{NODE} (weighted interleave: Linux 6.9+)"
    return InterleaveWeights().irreversible_reason()


def sysctl_unavailable() -> str | None:
    return None if SYSCTL.exists() else f"no {SYSCTL}"


# Why each knob cannot be held here (None: it can); "processes" is every run's own row.
UNAVAILABLE: dict[str, Callable[[], str | None]] = {
    "sysctl": sysctl_unavailable,
    "weights": weights_unavailable,
    "hugetlb": lambda: hugetlb_unavailable_reason((NODE,)),
    "cpuset": cpuset_unavailable,
}
ROWS = [*UNAVAILABLE, "processes"]


@cache
def unavailable(knob: str) -> str | None:
    if os.geteuid() != 0:
        return "changes sysctls, weights, hugetlb pools and cgroups: needs root"
    return UNAVAILABLE[knob]() if knob in UNAVAILABLE else None


def files_of(knob: str) -> list[str]:
    """The host state's keys that belong to `knob`."""
    if knob == "sysctl":
        return [str(SYSCTL)]
    if knob == "weights":
        return [str(p) for p in sorted(WEIGHTS_DIR.iterdir())] if WEIGHTS_DIR.is_dir() else []
    if knob == "hugetlb":
        return [str(pool_dir(NODE) / name) for name in POOL_FILES]
    cgroups = []
    for mount in _cgroup2_mounts():
        cgroups += [str(mount / "cgroup.subtree_control"), f"{mount}/{CGROUP_PREFIX}*"]
    return cgroups


def host_state() -> HostState:
    """Every value the knobs touch (those this host has); the suite's cgroups by name."""
    state: HostState = {}
    for name in [*files_of("sysctl"), *files_of("weights"), *files_of("hugetlb")]:
        if Path(name).exists():
            state[name] = read(Path(name))
    for mount in _cgroup2_mounts():
        control = mount / "cgroup.subtree_control"
        state[str(control)] = read(control)
        ours = sorted(p.name for p in mount.iterdir() if p.name.startswith(CGROUP_PREFIX))
        state[f"{mount}/{CGROUP_PREFIX}*"] = ours
    return state


def alive(pid: int) -> bool:
    try:
        stat = read(Path(f"/proc/{pid}/stat"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def put_back(before: HostState, pids: list[int]) -> None:
    """Undo what a failed run left: processes first (they hold cgroups and huge pages),
    then the suite's cgroups and +cpuset, then the values, the weights before the mode
    files beside them (a weight written by hand turns 6.16's `auto` off)."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    for mount in _cgroup2_mounts():
        for group in mount.glob(CGROUP_PREFIX + "*"):
            for pid_text in read(group / "cgroup.procs").split():
                os.kill(int(pid_text), signal.SIGKILL)
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)
        control = mount / "cgroup.subtree_control"
        was = str(before.get(str(control), "")).split()
        now = read(control).split()
        changes = [f"-{c}" for c in now if c not in was] + [f"+{c}" for c in was if c not in now]
        if changes:
            control.write_text(" ".join(changes) + "\n")
    weights = sorted(files_of("weights"), key=lambda name: not Path(name).name.startswith("node"))
    for name in [*files_of("sysctl"), str(pool_dir(NODE) / "nr_hugepages"), *weights]:
        value = before.get(name)
        if isinstance(value, str) and read(Path(name)) != value:
            Path(name).write_text(value + "\n")


@dataclass
class Run:
    """One interrupted run of hold_knobs.py."""

    held: dict[str, object]  # what hold_knobs.py said it changed
    before: HostState
    during: HostState  # once it said everything was held
    after: HostState  # once pytest had ended
    status: int  # pytest's exit status
    survivors: list[int]  # processes of the run still alive after it
    log: str


def interrupt(tmp_path: Path, signame: str, moment: str, hold: list[str]) -> Run:
    """Run hold_knobs.py holding `hold`, send it `signame` once it holds everything, and
    measure the host before, while held and after; then put the host back regardless."""
    where, whole_group = MOMENTS[moment]
    ready = tmp_path / "ready.json"
    log = tmp_path / "pytest.log"
    env = {
        **os.environ,
        "MEMPOLICY_HOLD": ",".join(hold),
        "MEMPOLICY_HOLD_READY": str(ready),
        "MEMPOLICY_HOLD_IN": where,
    }
    argv = [sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider"]
    argv += ["-q", f"--rootdir={REPO_ROOT}", f"--basetemp={tmp_path / 'basetemp'}", str(MODULE)]
    before = host_state()
    pids: list[int] = []
    try:
        with log.open("wb") as out:
            # A session of its own: a signal to its group reaches nothing of ours.
            process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=default_signals,
            )
        pids.append(process.pid)
        held = wait_for(ready, process, log)
        if isinstance(held["child"], int):
            pids.append(held["child"])
        during = host_state()
        if whole_group:
            os.killpg(process.pid, SIGNALS[signame])
        else:
            process.send_signal(SIGNALS[signame])
        try:
            status = process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pytest still runs {EXIT_TIMEOUT_S:g} s after {signame}:\n{read(log)}")
        survivors = [pid for pid in pids if alive(pid)]
        after = host_state()
    finally:
        if pids and alive(pids[0]):
            os.killpg(pids[0], signal.SIGKILL)
        put_back(before, pids)
    return Run(held, before, during, after, status, survivors, read(log))


def wait_for(path: Path, process: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"the held case ended before it was ready:\n{read(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"the held case was not ready in {READY_TIMEOUT_S:g} s:\n{read(log)}")
        time.sleep(0.1)
    held: dict[str, object] = json.loads(path.read_text())
    return held


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], Run]]:
    """One run per (signal, moment), holding every knob this host has, shared by its rows;
    a run that broke breaks each of its rows with the same message."""
    done: dict[tuple[str, str], Run | str] = {}

    def get(signame: str, moment: str) -> Run:
        key = (signame, moment)
        if key not in done:
            hold = [knob for knob in UNAVAILABLE if unavailable(knob) is None]
            tmp_path = tmp_path_factory.mktemp(f"{signame}-{moment}")
            try:
                done[key] = interrupt(tmp_path, signame, moment, hold)
            except pytest.fail.Exception as exc:
                done[key] = str(exc)
        run = done[key]
        if isinstance(run, str):
            pytest.fail(run)
        return run

    yield get


@pytest.mark.parametrize("knob", ROWS)
@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("signame", SIGNALS)
def test_restored_after_signal(
    runs: Callable[[str, str], Run], signame: str, moment: str, knob: str
) -> None:
    reason = unavailable(knob)
    if reason:
        pytest.skip(reason)
    run = runs(signame, moment)
    if knob == "processes":
        assert run.status == pytest.ExitCode.INTERRUPTED, f"pytest exited {run.status}:\n{run.log}"
        assert not run.survivors, f"{run.survivors} outlived the run ({run.held}):\n{run.log}"
        return
    names = files_of(knob)
    if knob == "hugetlb" and run.during[names[0]] == run.before[names[0]]:
        pytest.skip(f"the kernel had no huge page to give node {NODE} ({run.held})")
    assert any(run.during[n] != run.before[n] for n in names), f"{knob} unchanged: {run.held}"
    after = {n: run.after[n] for n in names}
    assert after == {n: run.before[n] for n in names}, run.log
