"""Repeat mode: the same matrix run N times in one boot, and the cases whose verdict moved.

A case is flaky when its verdicts differ between repetitions. It keeps the worst verdict it
had (error, then fail), its message says every verdict in order, and the run lists it.
"""

from __future__ import annotations

from pathlib import Path

from reports.document import WORST_FIRST, ResultDocument, Verdict, load


def repetitions(run_dir: Path) -> list[ResultDocument]:
    """The result documents of every repetition, the first one first."""
    others = sorted(run_dir.glob("result.r*.json"), key=lambda p: int(p.suffixes[0][2:]))
    return [load(path) for path in [run_dir / "result.json", *others]]


def fold(documents: list[ResultDocument]) -> ResultDocument:
    """One document: the first repetition's, with flaky cases marked."""
    merged = documents[0]
    history: dict[str, list[Verdict]] = {}
    for document in documents:
        for case in document.cases:
            history.setdefault(case.id, []).append(case.verdict)
    flaky = {cid: verdicts for cid, verdicts in history.items() if len(set(verdicts)) > 1}
    for case in merged.cases:
        verdicts = flaky.get(case.id)
        if verdicts:
            case.verdict = min(verdicts, key=WORST_FIRST.index)
            case.message = (
                f"flaky over {len(documents)} runs: {', '.join(verdicts)}. " + case.message
            )
    merged.run["repeat"] = len(documents)
    merged.run["flaky_cases"] = {cid: [str(v) for v in verdicts] for cid, verdicts in flaky.items()}
    return merged
