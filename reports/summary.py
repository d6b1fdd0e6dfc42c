"""The feature summary: one row per feature family, one column per run, verdicts counted.

A family is the case's area plus the params that name a feature (api, mode, mapping), so a
new area (errors, private-node isolation, leaks) shows up as rows without a change here; a
case without those params is counted under its area alone. Formats render the rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reports.labels import ABSENT_CELL, VERDICT_CELLS
from reports.results import Case, RunDocument, Verdict

# The params that name a feature, in the order they appear in a family's name. Only string
# values count: a node list or a page count tells cases apart, not features.
FAMILY_PARAMS: tuple[str, ...] = ("api", "mode", "mapping")
SEPARATOR = " · "
ALL_CASES = "all cases"  # the label of the last row, every family together

# Which verdict colours a whole cell, most alarming first.
_SEVERITY = (Verdict.ERROR, Verdict.FAIL, Verdict.UNSUPPORTED, Verdict.SKIP, Verdict.PASS)


def family(case: Case) -> str:
    """The feature family of a case, e.g. "placement · mbind · MPOL_BIND · anon_private"."""
    parts = [case.area]
    for key in FAMILY_PARAMS:
        value = case.params.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    return SEPARATOR.join(parts)


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
        """The verdict a reader must notice first: an error or failure before the rest."""
        return next(verdict for verdict in _SEVERITY if self.verdicts.get(verdict))

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
        return SEPARATOR.join(parts)


@dataclass(frozen=True)
class FeatureRow:
    family: str
    cells: tuple[FamilyCounts | None, ...]  # one per run; None: the run has no case of it


def feature_rows(docs: Sequence[RunDocument]) -> list[FeatureRow]:
    """One row per family, then the "all cases" row.

    Families of one area sit together even when a later run brings a new one; otherwise
    rows keep the order the runs first show them in.
    """
    members: dict[str, set[str]] = {}  # family -> ids of its cases in any run
    areas: dict[str, int] = {}  # area -> rank of first appearance
    area_of: dict[str, str] = {}  # family -> area
    for doc in docs:
        for case in doc.cases:
            name = family(case)
            members.setdefault(name, set()).add(case.id)
            areas.setdefault(case.area, len(areas))
            area_of.setdefault(name, case.area)
    ordered = sorted(members, key=lambda name: areas[area_of[name]])  # stable: keeps seen order
    per_run = [_verdicts_by_family(doc) for doc in docs]
    rows = []
    for name in ordered:
        ids = members[name]
        cells = tuple(
            _counts(verdicts.get(name, Counter()), ids, doc)
            for doc, verdicts in zip(docs, per_run, strict=True)
        )
        rows.append(FeatureRow(name, cells))
    every_id = set().union(*members.values())
    totals = tuple(
        _counts(Counter(case.verdict for case in doc.cases), every_id, doc) for doc in docs
    )
    rows.append(FeatureRow(ALL_CASES, totals))
    return rows


def _verdicts_by_family(doc: RunDocument) -> dict[str, Counter[Verdict]]:
    found: dict[str, Counter[Verdict]] = {}
    for case in doc.cases:
        found.setdefault(family(case), Counter())[case.verdict] += 1
    return found


def _counts(verdicts: Counter[Verdict], ids: set[str], doc: RunDocument) -> FamilyCounts | None:
    if not verdicts:
        return None
    present = {case.id for case in doc.cases}
    return FamilyCounts(dict(verdicts), absent=len(ids - present))


def summary_cell(counts: FamilyCounts | None) -> str:
    """The text of one summary cell; the absent mark when the run has no case of the family."""
    return ABSENT_CELL if counts is None else counts.cell()
