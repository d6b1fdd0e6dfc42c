"""The words every report format shares: verdict cells, the absent mark, run labels, row order.

Markdown, HTML and CSV say "FAIL" and "6.1.0-56-amd64 · default" the same way, so a reader
can go from one to the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from reports.results import Case, RunDocument, Verdict, column_label

# FAIL and ERROR in capitals so they stand out in a column of passes.
VERDICT_CELLS: Mapping[Verdict, str] = {
    Verdict.PASS: "pass",
    Verdict.FAIL: "FAIL",
    Verdict.SKIP: "skip",
    Verdict.ERROR: "ERROR",
    Verdict.UNSUPPORTED: "unsupported",
}
ABSENT_CELL = "—"  # the run has no such case: another suite version, or the run died first

NEEDS_EXPLAINING = (Verdict.FAIL, Verdict.ERROR)


def column_labels(docs: Sequence[RunDocument]) -> list[str]:
    """The label of each run; repeats get " #2", " #3" so no two columns share a name."""
    seen: Counter[str] = Counter()
    labels = []
    for doc in docs:
        label = column_label(doc)
        seen[label] += 1
        labels.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return labels


def case_ids(docs: Sequence[RunDocument]) -> list[str]:
    """Every case id of every run, in first-seen order: the rows of the table."""
    return list(dict.fromkeys(case.id for doc in docs for case in doc.cases))


def cases_by_id(docs: Sequence[RunDocument]) -> list[dict[str, Case]]:
    """Per run, its cases by id, so a row can look its case up in every column."""
    return [{case.id: case for case in doc.cases} for doc in docs]
