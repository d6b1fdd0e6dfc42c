"""A cancelled run takes its guest down: SIGTERM or Ctrl-C to `python -m vm` stops QEMU,
which runs in a session of its own and would otherwise live on. A fake vng stands in for
QEMU: it starts a long-lived child in its session and waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import default_signals
from vm.runner import REPO_ROOT

FAKE_VNG = """#!/bin/sh
sleep 300 &
echo $! > "{pidfile}"
wait
"""

DRIVER = """
import signal, sys
from pathlib import Path
import vm.runner as runner
from vm.__main__ import Terminated, _terminate
from vm.topology import load_preset

runner.vng_executable = lambda: {vng!r}
signal.signal(signal.SIGTERM, _terminate)
try:
    runner.run_in_vm(Path({kernel!r}), load_preset("default"), Path({run_dir!r}), accel="tcg")
except Terminated:
    sys.exit(143)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: nothing runs.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_guest(tmp_path: Path, signum: int, status: int) -> None:
    pidfile = tmp_path / "guest.pid"
    vng = tmp_path / "vng"
    vng.write_text(FAKE_VNG.format(pidfile=pidfile))
    vng.chmod(0o755)
    driver = DRIVER.format(vng=str(vng), kernel="/boot/none", run_dir=str(tmp_path / "run"))
    process = subprocess.Popen(
        [sys.executable, "-c", driver], cwd=REPO_ROOT, preexec_fn=default_signals
    )
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert process.poll() is None, "the driver ended before the fake guest started"
        assert time.monotonic() < deadline, "the fake guest never started"
        time.sleep(0.05)
    guest = int(pidfile.read_text())
    assert _alive(guest)
    process.send_signal(signum)
    assert process.wait(timeout=30) == status
    deadline = time.monotonic() + 10
    while _alive(guest) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(guest), "the guest outlived the run"


def test_main_turns_sigterm_into_an_unwinding(tmp_path: Path) -> None:
    from vm.__main__ import _terminate, main

    before = signal.getsignal(signal.SIGTERM)
    try:
        # Bad input ends early, but only after the handler is in place.
        assert main(["run", "--no-install", "--kernel", str(tmp_path / "no-such-image")]) != 0
        assert signal.getsignal(signal.SIGTERM) is _terminate
    finally:
        signal.signal(signal.SIGTERM, before)
