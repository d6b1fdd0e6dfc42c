"""The CI gate: a run against a baseline run of the same topology.

The gate fails when the current run is no evidence of conformance (it crashed, timed out,
lost its VM or ran no case), when a case that passed in the baseline fails or errors now
(a regression, named with its expected and observed placement), and when a case that
passed in the baseline did not run at all. Gains (`unsupported` or `fail` to `pass`), new
cases and cases absent now that had not passed are listed, never fatal.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from reports.errors import UserError
from reports.results import Case, RunDocument, Verdict, column_label
from reports.table import describe_outcome

BROKEN = (Verdict.FAIL, Verdict.ERROR)
FINISHED = "ok"  # run.status of a run that ended by itself (reports/SCHEMA.md)
MISSING_ON_STDERR = 20  # the summary lists every missing case; a CI log needs only the first


@dataclass(frozen=True)
class Change:
    case_id: str
    before: Verdict | None  # None: the case is new
    after: Verdict | None  # None: the case did not run now
    case: Case | None  # the current run's case, when there is one


@dataclass(frozen=True)
class GateResult:
    baseline: RunDocument
    current: RunDocument
    run_problems: tuple[str, ...]  # why the current run as a whole shows nothing
    regressions: tuple[Change, ...]
    missing: tuple[Change, ...]  # passed in the baseline, did not run now: fatal
    gains: tuple[Change, ...]
    new_cases: tuple[Change, ...]
    vanished: tuple[Change, ...]  # did not run now, had not passed in the baseline
    other_changes: tuple[Change, ...]

    @property
    def passed(self) -> bool:
        return not (self.run_problems or self.regressions or self.missing)


def topology_signature(doc: RunDocument) -> tuple[object, ...]:
    """What makes two runs comparable: the same nodes with the same kinds, CPUs, distances."""
    return tuple(
        (n.id, n.kind, len(n.cpus), tuple(sorted(n.distances.items()))) for n in doc.topology.nodes
    )


def run_problems(current: RunDocument) -> tuple[str, ...]:
    """Why the run as a whole is no evidence of conformance, whatever its cases say."""
    problems = []
    if current.run.status != FINISHED:
        # A dead guest's document is rebuilt from what it wrote before it died (salvage):
        # the cases it never reached are absent, and the kernel may be what killed it.
        problems.append(
            f"the run did not finish (run.status {current.run.status!r}, not {FINISHED!r})"
        )
    if not current.cases:
        problems.append("the run ran no case")
    return tuple(problems)


def compare(baseline: RunDocument, current: RunDocument) -> GateResult:
    if topology_signature(baseline) != topology_signature(current):
        raise UserError(
            f"baseline {baseline.path} is from topology {baseline.topology.preset!r} with other "
            f"nodes than {current.path} ({current.topology.preset!r}); "
            "compare runs of the same topology"
        )
    before = {case.id: case for case in baseline.cases}
    after = {case.id: case for case in current.cases}
    regressions, gains, new_cases, other = [], [], [], []
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
    # A case that passed in the baseline and did not run now fails the gate: a crash, a
    # narrower selection or a broken collection would otherwise hide a regression behind
    # silence (cases the suite renamed land here too: refresh the baseline). One the
    # baseline skipped, found unsupported or saw fail gave no pass to lose: only listed.
    absent = [
        Change(cid, case.verdict, None, None) for cid, case in before.items() if cid not in after
    ]
    return GateResult(
        baseline,
        current,
        run_problems(current),
        tuple(regressions),
        tuple(change for change in absent if change.before == Verdict.PASS),
        tuple(gains),
        tuple(new_cases),
        tuple(change for change in absent if change.before != Verdict.PASS),
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


def failure_lines(result: GateResult) -> list[str]:
    """One line per reason the gate failed, for stderr: the run, missing cases, regressions."""
    lines = [f"NOT EVIDENCE {result.current.path}: {problem}" for problem in result.run_problems]
    for change in result.missing[:MISSING_ON_STDERR]:
        lines.append(f"MISSING {change.case_id}: passed in the baseline, not in this run")
    if len(result.missing) > MISSING_ON_STDERR:
        more = len(result.missing) - MISSING_ON_STDERR
        lines.append(f"MISSING ... and {more} more: the summary lists every one")
    return lines + [regression_line(change) for change in result.regressions]


def _change_line(change: Change) -> str:
    return f"{change.case_id}: {change.before or '(new)'} -> {change.after or '(not run)'}"


def _head(result: GateResult) -> str:
    if result.passed:
        return "passed"
    reasons = list(result.run_problems)
    if result.regressions:
        reasons.append(f"{len(result.regressions)} regression(s)")
    if result.missing:
        reasons.append(f"{len(result.missing)} case(s) that passed in the baseline did not run")
    return "FAILED: " + "; ".join(reasons)


def markdown(result: GateResult) -> str:
    """A CI job summary: the verdict first, then each list."""
    lines = [
        f"## mempolicy gate: {_head(result)}",
        "",
        f"baseline: {column_label(result.baseline)} (`{result.baseline.path.name}`)  ",
        f"current: {column_label(result.current)} (`{result.current.path.name}`)",
        "",
    ]
    if result.run_problems:
        lines += [
            "A run that crashed, timed out, lost its VM or ran no case is not evidence of"
            " conformance, whatever the cases it has say.",
            "",
        ]
    sections = [
        ("Regressions (passed before, fail or error now)", result.regressions, True),
        ("Passed before, did not run now", result.missing, False),
        ("Gains (pass now)", result.gains, False),
        ("New cases", result.new_cases, False),
        ("Did not run now (had not passed before)", result.vanished, False),
        ("Other verdict changes", result.other_changes, False),
    ]
    for title, changes, detailed in sections:
        if not changes:
            continue
        lines += [f"### {title}", ""]
        for change in changes:
            lines.append(f"- {regression_line(change) if detailed else _change_line(change)}")
        lines.append("")
    return "\n".join(lines)


def _junit_case(
    suite: ET.Element, classname: str, name: str, failure: str | None = None, text: str = ""
) -> None:
    element = ET.SubElement(suite, "testcase", classname=classname, name=name)
    if failure is not None:
        ET.SubElement(element, "failure", message=failure).text = text


def junit(result: GateResult) -> str:
    """One JUnit test per case of the current run and per missing case, failed when it
    regressed or is missing; a first test `run` fails when the run is no evidence (a CI
    that reads only the XML must not see an empty or crashed run as green)."""
    suite = ET.Element("testsuite", name="mempolicy-gate")
    if result.run_problems:
        _junit_case(suite, "gate", "run", "; ".join(result.run_problems), str(result.current.path))
    regressed = {change.case_id: change for change in result.regressions}
    for case in result.current.cases:
        change = regressed.get(case.id)
        if change is None:
            _junit_case(suite, case.area, case.id)
        else:
            failure = f"regression: {case.verdict}"
            _junit_case(suite, case.area, case.id, failure, regression_line(change))
    area = {case.id: case.area for case in result.baseline.cases}
    for change in result.missing:
        failure = "passed in the baseline, not in this run"
        _junit_case(suite, area[change.case_id], change.case_id, failure)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(len(suite.findall("testcase/failure"))))
    return ET.tostring(suite, encoding="unicode") + "\n"
