"""A result document from a guest that died: its head, its KTAP stream, its last case.

When the kernel panics or hangs, the guest never writes result.json. What it wrote as it
went survives in the run folder: result-head.json (kernel, topology, profile) at the start,
one KTAP line per finished case, and current_case naming the case that was running. The
case that was running when the kernel died is marked `error` with the console's lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_RESULT = re.compile(r"^(ok|not ok) \d+ (\S+)(?: # SKIP ?(.*))?$")
_BROKEN = re.compile(r"^# (fail|error): (\S+)$")


def ktap_cases(text: str) -> list[dict[str, Any]]:
    """The finished cases of a KTAP stream written by fixtures/ktap.py."""
    cases: list[dict[str, Any]] = []
    diagnostics: list[str] = []
    broken = "fail"
    for line in text.splitlines():
        if match := _BROKEN.match(line):
            broken = match.group(1)
        elif line.startswith("# "):
            diagnostics.append(line[2:])
        elif match := _RESULT.match(line):
            result, case_id, skip = match.groups()
            if result == "not ok":
                verdict, message = broken, " ".join(diagnostics)
            elif skip is not None:
                unsupported = skip.startswith("unsupported: ")
                verdict = "unsupported" if unsupported else "skip"
                message = skip.removeprefix("unsupported: ")
            else:
                verdict, message = "pass", ""
            cases.append(_case(case_id, verdict, message))
            diagnostics, broken = [], "fail"
    return cases


def _case(
    case_id: str, verdict: str, message: str, observed: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": case_id,
        "area": case_id.split("-", 1)[0],
        "params": {},
        "verdict": verdict,
        "expected": None,
        "observed": observed,
        "message": message,
        "duration_s": 0.0,
    }


def salvage(run_dir: Path, crashes: list[str]) -> dict[str, Any] | None:
    """The document of a run that ended without result.json, or None if nothing survived."""
    head = run_dir / "result-head.json"
    if not head.exists():
        return None
    document: dict[str, Any] = json.loads(head.read_text())
    ktap = run_dir / "results.ktap"
    cases = ktap_cases(ktap.read_text(errors="replace")) if ktap.exists() else []
    current = run_dir / "current_case"
    running = current.read_text().strip() if current.exists() else ""
    if running and running not in {c["id"] for c in cases}:
        excerpt = (
            " | ".join(crashes[:5]) or "no crash line on the console: the guest hung or was lost"
        )
        cases.append(
            _case(
                running,
                "error",
                f"the guest died during this case: {excerpt}",
                {"kernel_log": crashes[:20]},
            )
        )
    document["cases"] = cases
    return document
