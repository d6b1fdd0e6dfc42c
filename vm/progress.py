"""Progress of long phases: live on a terminal, one line per phase in CI logs.

While the guest runs, the KTAP stream it writes into the shared run folder tells how many
cases are done; on a terminal that count is redrawn in place.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import TextIO

_RESULT = re.compile(r"^(not ok|ok) \d+ ")
_PLAN = re.compile(r"^1\.\.(\d+)$")


def ktap_counts(text: str) -> tuple[int, int | None, int]:
    """(cases done, cases planned or None, cases not ok) of a KTAP stream so far."""
    done = failed = 0
    planned = None
    for line in text.splitlines():
        if plan := _PLAN.match(line):
            planned = int(plan.group(1))
        elif result := _RESULT.match(line):
            done += 1
            failed += result.group(1) == "not ok"
    return done, planned, failed


class Progress:
    def __init__(self, out: TextIO = sys.stderr, *, live: bool | None = None) -> None:
        self.out = out
        self.live = live if live is not None else out.isatty() and not os.environ.get("CI")
        self.started = time.monotonic()
        self._last = ""

    def phase(self, text: str) -> None:
        """A new phase: always one line, in CI too."""
        self._finish_live_line()
        self.out.write(f"{text}\n")
        self.out.flush()

    def guest_tick(self, ktap: Path) -> None:
        """Redraw the guest's progress (terminal only)."""
        if not self.live:
            return
        text = ktap.read_text(errors="replace") if ktap.exists() else ""
        done, planned, failed = ktap_counts(text)
        where = f"matrix {done}/{planned}" if planned else "booting"
        self.tick(f"{where}, {failed} not ok")

    def tick(self, status: str) -> None:
        """Redraw the live line of a long phase (terminal only; CI logs get phases alone)."""
        if not self.live:
            return
        line = f"  {status}, {time.monotonic() - self.started:.0f} s"
        if line != self._last:
            self.out.write("\r" + line.ljust(len(self._last)))
            self.out.flush()
            self._last = line

    def _finish_live_line(self) -> None:
        if self._last:
            self.out.write("\n")
            self._last = ""
