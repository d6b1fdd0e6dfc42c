"""CSV for systems: one row per (case, run), every field a plain value.

Spreadsheets and scripts read it without knowing the JSON schema. A case a run does not
have gets no row: absence is the lack of a row, not a made-up verdict.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence

from reports.labels import column_labels
from reports.results import Outcome, RunDocument
from reports.table import describe_outcome, describe_pages

COLUMNS = (
    "case",
    "area",
    "run",  # the column label of the Markdown and HTML tables
    "kernel_release",
    "topology",
    "profile",
    "verdict",  # the schema's word: pass | fail | skip | error | unsupported
    "expected_pages",  # only the page counts, for scripts: "N0=200 N2=56", "no pages" or ""
    "observed_pages",
    "expected_other",  # the rest of the outcome as the tables show it: errno, signal,
    "observed_other",  # constraint, extra keys; "" when there is nothing else
    "duration_s",
    "message",
)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Free text a spreadsheet would run as a formula ("=HYPERLINK(...)", "-1+1") gets a
    leading apostrophe, which spreadsheets show as text (OWASP's CSV injection advice)."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def csv_report(docs: Sequence[RunDocument]) -> str:
    """The whole CSV text, header first; rows in run order, then case order within a run."""
    out = io.StringIO()
    # "\n" rather than the csv module's "\r\n": the file is read on Linux, by Linux tools.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for label, doc in zip(column_labels(docs), docs, strict=True):
        for case in doc.cases:
            writer.writerow(
                [
                    case.id,
                    case.area,
                    label,
                    doc.kernel.release,
                    doc.topology.preset,
                    doc.profile,
                    case.verdict.value,
                    _pages(case.expected),
                    _pages(case.observed),
                    _text(_other(case.expected)),
                    _text(_other(case.observed)),
                    f"{case.duration_s:g}",
                    _text(" ".join(case.message.split())),  # one line, whatever the newlines
                ]
            )
    return out.getvalue()


def _pages(outcome: Outcome | None) -> str:
    if outcome is None or outcome.pages is None:
        return ""  # this side has no page counts: an errno, a signal, or it never got that far
    return describe_pages(outcome.pages)


def _other(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""  # the case never got that far; the verdict and message say why
    rest = dataclasses.replace(outcome, pages=None)
    return "" if rest == Outcome() else describe_outcome(rest)
