"""After a guest dies mid-matrix, boot again for the cases it never reached.

A kernel that oopses or hangs in one case used to cost the rest of the run: the salvaged
document marked that case and stopped. The host now boots the same kernel and topology
again with the cases the dead guest had planned and not finished (the running case
stays the `error` that salvage made it, with the kernel's words), up to MAX_BOOTS boots
more, and never again once a boot finishes no case. The run's status and exit stay those
of a crash; the document lists every boot that continued it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reports.document import ResultDocument
from vm.runner import GuestRun

MAX_BOOTS = 3  # continuations after the first boot
ONLY_CASES_FILE = "only_cases"  # in the next boot's run folder: the ids it is to run
PLANNED_FILE = "planned_cases"  # written by the guest once collection ended


def remaining_cases(run_dir: Path, document: ResultDocument) -> list[str]:
    """The cases `run_dir`'s guest planned and its document has no verdict for, in order."""
    planned = run_dir / PLANNED_FILE
    if not planned.exists():
        return []
    done = {case.id for case in document.cases}
    return [case for case in planned.read_text().split() if case not in done]


def continue_after_crash(
    first: GuestRun,
    document: ResultDocument,
    boot_next: Callable[[int, list[str]], tuple[GuestRun, ResultDocument]],
) -> list[GuestRun]:
    """Boot again (`boot_next(n, ids)`: the nth continuation, for the cases `ids`) while
    the last boot died with cases left; their verdicts are added to `document`. Returns
    the continuing boots."""
    boots: list[GuestRun] = []
    last_run, last_document = first, document
    while last_run.status != "ok" and len(boots) < MAX_BOOTS:
        left = remaining_cases(last_run.run_dir, last_document)
        if not left:
            break
        last_run, last_document = boot_next(len(boots) + 1, left)
        boots.append(last_run)
        document.cases.extend(last_document.cases)
        if not last_document.cases:  # no progress: the next boot would die the same way
            break
    if boots:
        document.run["continued_after_crash"] = [
            {
                "run_dir": str(run.run_dir),
                "status": run.status,
                "console_findings": list(run.crashes),
                "duration_s": round(run.wall_s, 1),
            }
            for run in boots
        ]
    return boots
