"""Crash evidence in a guest console log.

Results never come from the console; it is only scanned for signs that the kernel broke
(an oops, a BUG, a WARNING, a panic), which mark the run.
"""

from __future__ import annotations

import re
from pathlib import Path

# Each pattern matches the first line the kernel prints for that kind of trouble.
FINDINGS = {
    "panic": re.compile(r"Kernel panic - not syncing"),
    "oops": re.compile(r"Oops: |general protection fault"),
    "bug": re.compile(r"(kernel )?BUG: |kernel BUG at "),
    "warning": re.compile(r"WARNING: CPU: \d+ PID: \d+ at "),
    "oom": re.compile(r"Out of memory: Killed process|invoked oom-killer"),
    "hung": re.compile(r"INFO: task .* blocked for more than"),
}
# The OOM killer at work is evidence, not a crash: the BIND cases provoke it on purpose.
CRASHES = ("panic", "oops", "bug", "warning", "hung")


def _strip_timestamp(line: str) -> str:
    return re.sub(r"^\[\s*\d+\.\d+\]\s*", "", line).strip()


def findings(text: str) -> list[tuple[str, str]]:
    """(kind, line) for every line of the log that matches a finding."""
    found = []
    for line in text.splitlines():
        for kind, pattern in FINDINGS.items():
            if pattern.search(line):
                found.append((kind, _strip_timestamp(line)))
                break
    return found


def crashes(log: Path) -> list[str]:
    """The crash lines of a console log, as '<kind>: <line>'."""
    if not log.exists():
        return []
    text = log.read_text(errors="replace")
    return [f"{kind}: {line}" for kind, line in findings(text) if kind in CRASHES]
