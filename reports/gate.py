"""The CI gate: a run against a baseline run of the same topology.

A case that passed in the baseline and now fails or errors is a regression: the gate fails
and names it with its expected and observed placement. Newly passing cases, gains
(`unsupported` or `fail` to `pass`), new and vanished cases are listed, never fatal.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from reports.errors import UserError
from reports.results import Case, RunDocument, Verdict, column_label
from reports.table import describe_outcome

BROKEN = (Verdict.FAIL, Verdict.ERROR)


@dataclass(frozen=True)
class Change:
    case_id: str
    before: Verdict | None  # None: the case is new
    after: Verdict | None  # None: the case vanished
    case: Case | None  # the current run's case, when there is one


@dataclass(frozen=True)
class GateResult:
    baseline: RunDocument
    current: RunDocument
    regressions: tuple[Change, ...]
    gains: tuple[Change, ...]
    new_cases: tuple[Change, ...]
    vanished: tuple[Change, ...]
    other_changes: tuple[Change, ...]

    @property
    def passed(self) -> bool:
        return not self.regressions


def topology_signature(doc: RunDocument) -> tuple[object, ...]:
    """What makes two runs comparable: the same nodes with the same kinds, CPUs, distances."""
    return tuple(
        (n.id, n.kind, len(n.cpus), tuple(sorted(n.distances.items()))) for n in doc.topology.nodes
    )


def compare(baseline: RunDocument, current: RunDocument) -> GateResult:
    if topology_signature(baseline) != topology_signature(current):
        raise UserError(
            f"baseline {baseline.path} is from topology {baseline.topology.preset!r} with other "
            f"nodes than {current.path} ({current.topology.preset!r}); "
            "compare runs of the same topology"
        )
    before = {case.id: case for case in baseline.cases}
    after = {case.id: case for case in current.cases}
    regressions, gains, new_cases, vanished, other = [], [], [], [], []
    for case_id, case in after.items():
        old = before.get(case_id)
        if old is None:
            new_cases.append(Change(case_id, None, case.verdict, case))
        elif old.verdict == Verdict.PASS and case.verdict in BROKEN:
            regressions.append(Change(case_id, old.verdict, case.verdict, case))
        elif old.verdict != Verdict.PASS and case.verdict == Verdict.PASS:
            gains.append(Change(case_id, old.verdict, case.verdict, case))
        elif old.verdict != case.verdict:
            other.append(Change(case_id, old.verdict, case.verdict, case))
    vanished = [
        Change(cid, case.verdict, None, None) for cid, case in before.items() if cid not in after
    ]
    return GateResult(
        baseline,
        current,
        tuple(regressions),
        tuple(gains),
        tuple(new_cases),
        tuple(vanished),
        tuple(other),
    )


def regression_line(change: Change) -> str:
    case = change.case
    assert case is not None
    expected = describe_outcome(case.expected)
    observed = describe_outcome(case.observed)
    return (
        f"REGRESSION {change.case_id}: {change.before} -> {change.after}; "
        f"expected {expected}, observed {observed}"
    )


def markdown(result: GateResult) -> str:
    """A CI job summary: the verdict first, then each list."""
    head = "passed" if result.passed else f"FAILED: {len(result.regressions)} regression(s)"
    lines = [
        f"## mempolicy gate: {head}",
        "",
        f"baseline: {column_label(result.baseline)} (`{result.baseline.path.name}`)  ",
        f"current: {column_label(result.current)} (`{result.current.path.name}`)",
        "",
    ]
    sections = [
        ("Regressions (passed before, fail or error now)", result.regressions, True),
        ("Gains (pass now)", result.gains, False),
        ("New cases", result.new_cases, False),
        ("Cases no longer run", result.vanished, False),
        ("Other verdict changes", result.other_changes, False),
    ]
    for title, changes, detailed in sections:
        if not changes:
            continue
        lines += [f"### {title}", ""]
        for change in changes:
            text = (
                regression_line(change)
                if detailed
                else f"{change.case_id}: {change.before or '(new)'} -> {change.after or '(gone)'}"
            )
            lines.append(f"- {text}")
        lines.append("")
    return "\n".join(lines)


def junit(result: GateResult) -> str:
    """One JUnit test per case of the current run; a regression is a failure."""
    suite = ET.Element("testsuite", name="mempolicy-gate", tests=str(len(result.current.cases)))
    regressed = {change.case_id: change for change in result.regressions}
    for case in result.current.cases:
        element = ET.SubElement(suite, "testcase", classname=case.area, name=case.id)
        if case.id in regressed:
            failure = ET.SubElement(element, "failure", message=f"regression: {case.verdict}")
            failure.text = regression_line(regressed[case.id])
    suite.set("failures", str(len(regressed)))
    return ET.tostring(suite, encoding="unicode") + "\n"
