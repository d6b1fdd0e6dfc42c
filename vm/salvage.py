"""A result document from a guest that died: its head, its KTAP stream, its last case.

When the kernel panics or hangs, the guest never writes result.json. What it wrote as it
went survives in the run folder: result-head.json (kernel, topology, profile) and
planned_cases (the ids in the order they run) when collection ended, and one KTAP line
per finished case. The case that was running when the kernel died, the first planned one
without a KTAP line, is marked `error` with the console's lines. Reading the head and the
KTAP stream is the contract's (reports/document.py).
"""

from __future__ import annotations

from pathlib import Path

from reports.document import CaseResult, ResultDocument, Verdict, area_of, load, parse_ktap


def salvage(run_dir: Path, crashes: list[str]) -> ResultDocument | None:
    """The document of a run that ended without result.json, or None if nothing survived."""
    head = run_dir / "result-head.json"
    if not head.exists():
        return None
    document = load(head)
    ktap = run_dir / "results.ktap"
    cases = parse_ktap(ktap.read_text(errors="replace")) if ktap.exists() else []
    planned = run_dir / "planned_cases"
    order = planned.read_text(errors="replace").splitlines() if planned.exists() else []
    finished = {c.id for c in cases}
    running = next((case for case in order if case and case not in finished), "")
    if running:
        excerpt = (
            " | ".join(crashes[:5]) or "no crash line on the console: the guest hung or was lost"
        )
        cases.append(
            CaseResult(
                running,
                area_of(running),
                verdict=Verdict.ERROR,
                message=f"the guest died during this case: {excerpt}",
                observed={"kernel_log": crashes[:20]},
            )
        )
    document.cases = cases
    return document
