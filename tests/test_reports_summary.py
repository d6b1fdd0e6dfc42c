"""The feature summary (reports.summary) and its place in the Markdown report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reports.results import Case, RunDocument, Verdict, load
from reports.summary import ALL_CASES, FamilyCounts, family, feature_rows, summary_cell
from reports.table import markdown_report, markdown_summary

RESULTS = Path(__file__).parent / "data" / "results"
DEBIAN_61 = RESULTS / "debian-6.1.0-56-default.json"
DEBIAN_612 = RESULTS / "debian-6.12.57-default.json"
PRIVATE_V5 = RESULTS / "private-v5-6.19-rc4-private.json"
GUEST_RUN = RESULTS / "guest-6.1.0-56-default-tcg.json"  # recorded from a real TCG guest


@pytest.fixture(scope="module")
def runs() -> list[RunDocument]:
    return [load(DEBIAN_61), load(DEBIAN_612), load(PRIVATE_V5)]


@pytest.fixture(scope="module")
def guest_run() -> RunDocument:
    return load(GUEST_RUN)


def cells_by_family(docs: list[RunDocument]) -> dict[str, list[str]]:
    return {row.family: [summary_cell(cell) for cell in row.cells] for row in feature_rows(docs)}


def parse_markdown_table(markdown: str) -> dict[str, list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    _header, _separator, *body = (
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines
    )
    return {cells[0]: cells[1:] for cells in body}


# --- families ----------------------------------------------------------------------------


def test_family_is_area_api_mode_mapping(runs: list[RunDocument]) -> None:
    bind = runs[0].cases[0]
    assert family(bind) == "placement · mbind · MPOL_BIND · anon_private"
    migration = runs[0].cases[9]
    assert family(migration) == "migration · move_pages · anon_private"  # no mode: left out


def test_case_without_feature_params_falls_back_to_its_area(runs: list[RunDocument]) -> None:
    negative_control = runs[0].cases[8]
    assert negative_control.params.get("api") is None
    assert family(negative_control) == "isolation"


def test_a_new_area_needs_no_change(runs: list[RunDocument]) -> None:
    leak = dataclasses.replace(
        runs[0].cases[0],
        area="leaks",
        params={"mode": "MPOL_BIND", "mapping": "shmem", "pages": 512, "flags": 0},
    )
    assert family(leak) == "leaks · MPOL_BIND · shmem"


def test_only_string_params_name_a_family(runs: list[RunDocument]) -> None:
    odd = dataclasses.replace(runs[0].cases[0], params={"api": ["mbind"], "mode": "", "pages": 1})
    assert family(odd) == "placement"


# --- rows and cells ----------------------------------------------------------------------


def test_rows_group_families_by_area_in_first_seen_order(runs: list[RunDocument]) -> None:
    assert [row.family for row in feature_rows(runs)] == [
        "placement · mbind · MPOL_BIND · anon_private",
        "placement · mbind · MPOL_INTERLEAVE · anon_private",
        "placement · mbind · MPOL_PREFERRED · anon_private",
        "placement · set_mempolicy · MPOL_PREFERRED_MANY · anon_private",
        "placement · mbind · MPOL_WEIGHTED_INTERLEAVE · anon_private",
        "errors · mbind · MPOL_BIND · anon_private",
        "errors · set_mempolicy_home_node · MPOL_INTERLEAVE",  # only in the second run
        "flags · mbind · MPOL_BIND",
        "isolation",
        "migration · move_pages · anon_private",
        "private · mbind · MPOL_BIND · anon_private",
        "private · mbind · MPOL_INTERLEAVE · anon_private",
        "private · set_mempolicy · MPOL_PREFERRED",
        "private",
        ALL_CASES,
    ]


def test_cells_count_verdicts_per_run(runs: list[RunDocument]) -> None:
    cells = cells_by_family(runs)
    assert cells["placement · mbind · MPOL_PREFERRED · anon_private"] == ["1/1", "1 FAIL", "—"]
    assert cells["placement · mbind · MPOL_WEIGHTED_INTERLEAVE · anon_private"] == [
        "1 unsupported",
        "1/1",
        "—",
    ]
    assert cells["migration · move_pages · anon_private"] == ["1 ERROR", "1/1", "—"]
    assert cells["flags · mbind · MPOL_BIND"] == ["1 skip", "—", "—"]
    assert cells["private · set_mempolicy · MPOL_PREFERRED"] == ["—", "—", "1 FAIL"]


def test_cases_other_runs_have_are_counted_absent(runs: list[RunDocument]) -> None:
    # The private run has bind-node0 but not bind-node2: one of two, not a failure.
    cells = cells_by_family(runs)
    assert cells["placement · mbind · MPOL_BIND · anon_private"] == ["2/2", "2/2", "1/1 · 1 absent"]


def test_all_cases_row_matches_the_totals(runs: list[RunDocument]) -> None:
    assert cells_by_family(runs)[ALL_CASES] == [
        "7 pass · 1 skip · 1 ERROR · 1 unsupported · 5 absent",
        "9 pass · 1 FAIL · 5 absent",
        "3 pass · 1 FAIL · 1 ERROR · 10 absent",
    ]


def test_worst_verdict_colours_the_cell(runs: list[RunDocument]) -> None:
    totals = feature_rows(runs)[-1].cells
    assert [cell.worst if cell else None for cell in totals] == [
        Verdict.ERROR,
        Verdict.FAIL,
        Verdict.ERROR,
    ]


def test_guest_run_summarises_placement_and_readback(guest_run: RunDocument) -> None:
    cells = cells_by_family([guest_run])
    assert len(cells) == 21  # 2 areas x 2 apis x 5 modes, and the total
    assert cells["placement · mbind · MPOL_INTERLEAVE · anon_private"] == ["4/4"]
    assert cells["placement · set_mempolicy · MPOL_LOCAL · anon_private"] == ["2/2"]
    assert cells["readback · mbind · MPOL_BIND"] == ["3/3"]  # readback cases name no mapping
    assert cells["readback · set_mempolicy · MPOL_DEFAULT"] == ["2/2"]
    assert cells[ALL_CASES] == ["56/56"]


@pytest.mark.parametrize(
    ("verdicts", "absent", "text"),
    [
        ({Verdict.PASS: 12}, 0, "12/12"),
        (
            {Verdict.PASS: 10, Verdict.FAIL: 2, Verdict.UNSUPPORTED: 1},
            0,
            "10 pass · 2 FAIL · 1 unsupported",
        ),
        ({Verdict.SKIP: 3}, 2, "3 skip · 2 absent"),
    ],
)
def test_cell_text(verdicts: dict[Verdict, int], absent: int, text: str) -> None:
    assert FamilyCounts(verdicts, absent).cell() == text


def test_absent_family_is_a_dash() -> None:
    assert summary_cell(None) == "—"


# --- in the Markdown report --------------------------------------------------------------


def test_markdown_summary_is_a_table_of_the_rows(runs: list[RunDocument]) -> None:
    rows = parse_markdown_table(markdown_summary(runs))
    assert rows["placement · mbind · MPOL_PREFERRED · anon_private"] == ["1/1", "1 FAIL", "—"]
    assert rows["all cases"][1] == "9 pass · 1 FAIL · 5 absent"


def test_summary_comes_before_the_case_table(runs: list[RunDocument]) -> None:
    report = markdown_report(runs)
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings == [
        "## Compatibility",
        "### By feature",
        "### By case",
        "## Where the kernels differ",
        "## Failures and errors",
    ]
    by_feature, by_case = report.split("### By case")
    assert "| placement · mbind · MPOL_BIND · anon_private " in by_feature
    assert "| placement-mbind-bind-node0 " in by_case


def test_pipe_in_an_area_does_not_split_the_row(runs: list[RunDocument]) -> None:
    odd: Case = dataclasses.replace(runs[0].cases[0], area="a|b")
    run = dataclasses.replace(runs[0], cases=(odd,))
    assert "| a\\|b · mbind · MPOL_BIND · anon_private | 1/1" in markdown_summary([run])
