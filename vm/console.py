"""Crash evidence in a guest console log.

Results never come from the console; it is only scanned for signs that the kernel broke
(an oops, a BUG, a WARNING, a panic), which mark the run. The patterns are the guest's
(fixtures/system/kmsg.py), which reads /dev/kmsg after every case the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from fixtures.system.kmsg import CRASHES, FINDINGS, crash_lines, findings

__all__ = ["CRASHES", "FINDINGS", "crashes", "findings", "pytest_collected", "pytest_stop_reason"]

# What pytest prints when it stops before running the cases: a usage error ("ERROR: ..."
# or argparse's "pytest.main(): error: ..."), or an internal error's exception line.
_USAGE = re.compile(r"^(?:ERROR: (?!usage: )(.+)|\S+: error: (.+))$")
_INTERNAL = re.compile(r"^INTERNALERROR> ([A-Za-z_][\w.]*(?:Error|Exception|Exit)\b.*)$")
# Its collection line: "collected 927 items / 927 deselected / 0 selected".
_COLLECTED = re.compile(r"^collected (\d+ items?\b.*)$")


def crashes(log: Path) -> list[str]:
    """The crash lines of a console log, as '<kind>: <line>'."""
    if not log.exists():
        return []
    return crash_lines(log.read_text(errors="replace"))


def pytest_stop_reason(log: Path) -> str:
    """The last line in which the guest's pytest said why it stopped (a usage or internal
    error), or "" when the console lost it."""
    if not log.exists():
        return ""
    reason = ""
    for line in log.read_text(errors="replace").splitlines():
        line = line.rstrip()
        if match := _USAGE.match(line):
            reason = match.group(1) or match.group(2)
        elif match := _INTERNAL.match(line):
            reason = match.group(1)
    return reason


def pytest_collected(log: Path) -> str:
    """What the guest's pytest said it collected ("927 items / 927 deselected / 0
    selected"), or "" when the console lost it."""
    if not log.exists():
        return ""
    collected = ""
    for line in log.read_text(errors="replace").splitlines():
        if match := _COLLECTED.match(line.rstrip()):
            collected = match.group(1)
    return collected
