"""The feature summary: one row per feature family, one column per run, verdicts counted.

A family is the case's area plus the params that name a feature (api, mode, mapping), so
a new area shows up as rows without any change here; a case that has none of those params
is counted under its area alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tabulate import tabulate

from reports.results import Case, RunDocument, Verdict
from reports.table import ABSENT_CELL, VERDICT_CELLS, column_labels

# The params that name a feature, in the order they appear in a family's name. Only string
# values count: a node list or a page count tells cases apart, not features.
FAMILY_PARAMS: tuple[str, ...] = ("api", "mode", "mapping")
FAMILY_SEPARATOR = " · "
ALL_CASES = "all cases"  # the label of the last row, every family together


def family(case: Case) -> str:
    """The feature family of a case, e.g. "placement · mbind · MPOL_BIND · anon_private"."""
    parts = [case.area]
    for key in FAMILY_PARAMS:
        value = case.params.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    return FAMILY_SEPARATOR.join(parts)


@dataclass(frozen=True)
class FamilyCounts:
    """How the cases of one family fared in one run."""

    verdicts: Mapping[Verdict, int]  # verdict -> cases with it; verdicts not seen are left out
    absent: int  # cases of the family that other runs have and this one lacks

    @property
    def total(self) -> int:
        return sum(self.verdicts.values())

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.verdicts.get(Verdict.PASS, 0) == self.total

    @property
    def worst(self) -> Verdict:
        """The verdict a reader must see first: any error or failure before the rest."""
        for verdict in (Verdict.ERROR, Verdict.FAIL, Verdict.UNSUPPORTED, Verdict.SKIP):
            if self.verdicts.get(verdict):
                return verdict
        return Verdict.PASS

    def cell(self) -> str:
        """ "12/12" when every case passed, else "10 pass · 2 FAIL · 1 unsupported"."""
        if self.all_passed:
            parts = [f"{self.total}/{self.total}"]
        else:
            parts = [
                f"{self.verdicts[verdict]} {word}"
                for verdict, word in VERDICT_CELLS.items()
                if self.verdicts.get(verdict)
            ]
        if self.absent:
            parts.append(f"{self.absent} absent")
        return FAMILY_SEPARATOR.join(parts)


@dataclass(frozen=True)
class FeatureRow:
    family: str
    cells: tuple[FamilyCounts | None, ...]  # one per run; None: the run has no case of it


def feature_rows(docs: Sequence[RunDocument]) -> list[FeatureRow]:
    """One row per family in first-seen order, then the "all cases" row."""
    members: dict[str, set[str]] = {}  # family -> case ids of every run
    for doc in docs:
        for case in doc.cases:
            members.setdefault(family(case), set()).add(case.id)
    rows = [
        FeatureRow(name, tuple(_counts(doc, ids) for doc in docs)) for name, ids in members.items()
    ]
    every_id = set().union(*members.values())
    rows.append(FeatureRow(ALL_CASES, tuple(_counts(doc, every_id) for doc in docs)))
    return rows


def _counts(doc: RunDocument, ids: set[str]) -> FamilyCounts | None:
    verdicts = Counter(case.verdict for case in doc.cases if case.id in ids)
    if not verdicts:
        return None
    return FamilyCounts(dict(verdicts), absent=len(ids) - verdicts.total())


def summary_cell(counts: FamilyCounts | None) -> str:
    return ABSENT_CELL if counts is None else counts.cell()


def markdown_summary(docs: Sequence[RunDocument]) -> str:
    """The summary as a GitHub Markdown table."""
    rows = [
        [_escape(row.family), *map(summary_cell, row.cells)] for row in feature_rows(docs)
    ]
    return tabulate(
        rows,
        headers=["feature", *map(_escape, column_labels(docs))],
        tablefmt="github",
        disable_numparse=True,  # "12/12" and "6.1" are text, not numbers to align
    )


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")  # a bare pipe would split a Markdown table cell
