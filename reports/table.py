"""Markdown compatibility tables: by feature, then one row per case, one column per run.

A column is a run (kernel · topology · profile); the failures section below the tables says
why each failure failed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence

from tabulate import tabulate

from reports.differences import differences_section
from reports.labels import ABSENT_CELL as ABSENT_CELL
from reports.labels import NEEDS_EXPLAINING, cases_by_id
from reports.labels import VERDICT_CELLS as VERDICT_CELLS
from reports.labels import case_ids as case_ids
from reports.labels import column_labels as column_labels
from reports.results import Case, Outcome, RunDocument
from reports.summary import feature_rows, summary_cell


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")  # a bare pipe would split a Markdown table cell


def markdown_summary(docs: Sequence[RunDocument]) -> str:
    """The feature summary (reports.summary): one row per feature family, counts per run."""
    rows = [[_escape(row.family), *map(summary_cell, row.cells)] for row in feature_rows(docs)]
    return tabulate(
        rows,
        headers=["feature", *map(_escape, column_labels(docs))],
        tablefmt="github",
        disable_numparse=True,  # "12/12" and "6.1" are text, not numbers to align
    )


def markdown_table(docs: Sequence[RunDocument]) -> str:
    """The compatibility table (tabulate, GitHub Markdown) and a totals line per column."""
    labels = column_labels(docs)
    runs = cases_by_id(docs)
    rows = [
        [_escape(case_id)]
        + [VERDICT_CELLS[run[case_id].verdict] if case_id in run else ABSENT_CELL for run in runs]
        for case_id in case_ids(docs)
    ]
    table = tabulate(
        rows,
        headers=["case", *map(_escape, labels)],
        tablefmt="github",
        disable_numparse=True,  # "6.1" in a label or id is a name, not a number to align
    )
    totals = [
        f"- {label}: {_totals(doc, len(rows))}" for label, doc in zip(labels, docs, strict=True)
    ]
    return "\n".join([table, "", "Totals per column:", "", *totals])


def _totals(doc: RunDocument, row_count: int) -> str:
    counts = Counter(case.verdict for case in doc.cases)
    parts = [f"{counts[verdict]} {cell}" for verdict, cell in VERDICT_CELLS.items()]
    absent = row_count - len(doc.cases)
    if absent:
        parts.append(f"{absent} absent ({ABSENT_CELL})")
    return ", ".join(parts)


def describe_pages(pages: Mapping[int, int]) -> str:
    """Page counts by node, e.g. "N0=200 N2=56"; "no pages" when none landed anywhere."""
    return " ".join(f"N{node}={count}" for node, count in sorted(pages.items())) or "no pages"


def describe_outcome(outcome: Outcome | None) -> str:
    """Compact text for an expected or observed outcome, e.g. "N0=200 N2=56" or "EINVAL"."""
    if outcome is None:
        return ABSENT_CELL  # the case never got that far
    parts = []
    if outcome.pages is not None:
        parts.append(describe_pages(outcome.pages))
    if outcome.errno is not None:
        parts.append(outcome.errno)
    if outcome.signal is not None:
        parts.append(outcome.signal)
    if outcome.constraint is not None or outcome.nodes is not None:
        nodes = ",".join(f"N{node}" for node in outcome.nodes or ())
        if outcome.nodes == ():
            nodes = "no nodes"  # an empty mask (get_mempolicy readback), not a missing one
        parts.append(" ".join(part for part in (outcome.constraint, nodes) if part))
    for key, value in (outcome.other or {}).items():
        parts.append(f"{key}={json.dumps(value, separators=(',', ':'), sort_keys=True)}")
    return ", ".join(parts) or "nothing"


def failures_section(docs: Sequence[RunDocument]) -> str:
    """Why: each failed or errored case with expected vs observed and its message.

    A run that did not end cleanly (crash, lost VM, timeout) is named first, with what the
    console showed, because it explains the absent cases in its column.
    """
    labels = column_labels(docs)
    lines = [
        _run_problem_line(doc, label)
        for label, doc in zip(labels, docs, strict=True)
        if doc.run.status != "ok"
    ]
    runs = cases_by_id(docs)
    for case_id in case_ids(docs):  # row order, so one case's failures across runs sit together
        for label, run in zip(labels, runs, strict=True):
            case = run.get(case_id)
            if case is not None and case.verdict in NEEDS_EXPLAINING:
                lines.append(_failure_line(case, label))
    body = lines or ["No case failed or errored."]
    return "\n".join(["## Failures and errors", "", *body])


def _run_problem_line(doc: RunDocument, label: str) -> str:
    findings = "; ".join(doc.run.console_findings)
    return f"- {label}: run {doc.run.status}" + (f"; console: {findings}" if findings else "")


def _failure_line(case: Case, label: str) -> str:
    line = (
        f"- **{VERDICT_CELLS[case.verdict]}** `{case.id}` on {label}:"
        f" expected `{describe_outcome(case.expected)}`,"
        f" observed `{describe_outcome(case.observed)}`"
    )
    message = " ".join(case.message.split())  # one paragraph, whatever the writer's newlines
    return f"{line}. {message}" if message else line


def markdown_report(docs: Sequence[RunDocument]) -> str:
    """The whole Markdown page: summary by feature, cases with totals, then why cases failed."""
    return "\n".join(
        [
            "## Compatibility",
            "",
            "### By feature",
            "",
            markdown_summary(docs),
            "",
            "### By case",
            "",
            markdown_table(docs),
            "",
            differences_section(docs),
            "",
            failures_section(docs),
            "",
        ]
    )
