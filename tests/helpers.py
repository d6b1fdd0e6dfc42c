"""What several harness tests share: stub executables, the recorded result documents, and
signals as a terminal gives them."""

import signal
from pathlib import Path

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "results"
RUN_FILES = [
    RESULTS / "debian-6.1.0-56-default.json",
    RESULTS / "debian-6.12.57-default.json",
    RESULTS / "private-v5-6.19-rc4-private.json",
]
GUEST_RUN = RESULTS / "guest-6.1.0-56-default-tcg.json"  # recorded from a real TCG guest


def write_stub(directory: Path, name: str, body: str) -> Path:
    """An executable shell script standing in for a tool; stubs use absolute paths, since
    PATH may hold only stubs."""
    directory.mkdir(parents=True, exist_ok=True)
    stub = directory / name
    stub.write_text("#!/bin/sh\n" + body + "\n")
    stub.chmod(0o755)
    return stub


def default_signals() -> None:
    """preexec_fn for a process a test will interrupt: SIGINT and SIGTERM as a terminal
    gives them. A shell running a job in the background without job control (nohup,
    `cmd &` in a script: how CI may start the suite) ignores SIGINT, the ignoring is
    inherited across exec, and Python then never turns Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
