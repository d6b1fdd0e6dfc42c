"""What several harness tests share: stub executables, the recorded result documents,
signals as a terminal gives them, the text of small topology presets, and a real run of
`python -m vm run`."""

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from vm.runner import REPO_ROOT

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


def preset_toml(*nodes: tuple[int, int], private: dict[str, object] | None = None) -> str:
    """A topology preset's text (vm/topologies/): one [[nodes]] table per (cpus,
    memory_mib), ids 0, 1, ... in order, with no cpus line for a CPU-less node as the
    shipped presets write it; the guest's memory_mib is their sum; then a [private] table
    of `private`'s keys when given. Tests add lines to it, or str.replace one, to make the
    mistake they check."""
    lines = [f"memory_mib = {sum(memory for _, memory in nodes)}"]
    for node_id, (cpus, memory) in enumerate(nodes):
        cpus_line = [f"cpus = {cpus}"] if cpus else []
        lines += ["[[nodes]]", f"id = {node_id}", *cpus_line, f"memory_mib = {memory}"]
    if private is not None:
        lines += ["[private]", *(f"{key} = {json.dumps(value)}" for key, value in private.items())]
    return "\n".join(lines) + "\n"


def vm_run(
    results: Path, *arguments: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`python -m vm run` with `arguments` and its result document in `results` (the one
    document it must leave, loaded)."""
    command = [sys.executable, "-m", "vm", "run", "--results", str(results), *arguments]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    documents = list(results.glob("*.json"))
    assert len(documents) == 1, f"no result document; stderr:\n{finished.stderr[-3000:]}"
    return finished, json.loads(documents[0].read_text())
