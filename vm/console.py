"""Crash evidence in a guest console log.

Results never come from the console; it is only scanned for signs that the kernel broke
(an oops, a BUG, a WARNING, a panic), which mark the run. The patterns are the guest's
(fixtures/system/kmsg.py), which reads /dev/kmsg after every case the same way.
"""

from __future__ import annotations

from pathlib import Path

from fixtures.system.kmsg import CRASHES, FINDINGS, crash_lines, findings

__all__ = ["CRASHES", "FINDINGS", "crashes", "findings"]


def crashes(log: Path) -> list[str]:
    """The crash lines of a console log, as '<kind>: <line>'."""
    if not log.exists():
        return []
    return crash_lines(log.read_text(errors="replace"))
