"""CSV export (reports.csv_export): one row per (case, run), read back with the csv module."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from reports.csv_export import COLUMNS, csv_report
from reports.results import RunDocument, load
from tests.helpers import GUEST_RUN, RUN_FILES


@pytest.fixture(scope="module")
def runs() -> list[RunDocument]:
    return [load(path) for path in RUN_FILES]


def read_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def row_of(rows: list[dict[str, str]], case: str, run: str) -> dict[str, str]:
    (found,) = [row for row in rows if row["case"] == case and row["run"] == run]
    return found


def test_one_row_per_case_and_run(runs: list[RunDocument]) -> None:
    rows = read_rows(csv_report(runs))
    assert len(rows) == 10 + 10 + 5  # absent cases get no row
    assert [row["run"] for row in rows].count("6.19.0-rc4-private-v5+ · private · private-v5") == 5
    assert rows[0]["case"] == "placement-mbind-bind-node0"


def test_failure_row_carries_expected_and_observed_pages(runs: list[RunDocument]) -> None:
    row = row_of(
        read_rows(csv_report(runs)),
        "placement-mbind-preferred-node2",
        "6.12.57+deb13-amd64 · default",
    )
    assert row == {
        "case": "placement-mbind-preferred-node2",
        "area": "placement",
        "run": "6.12.57+deb13-amd64 · default",
        "kernel_release": "6.12.57+deb13-amd64",
        "topology": "default",
        "profile": "mainline",
        "verdict": "fail",
        "expected_pages": "N2=256",
        "observed_pages": "N0=200 N2=56",
        "expected_other": "",
        "observed_other": "",
        "duration_s": "0.05",
        "message": "MPOL_PREFERRED without memory pressure should put every page on node 2;"
        " 200 of 256 fell back to node 0 although node 2 had 412 MiB free.",
    }


def test_errno_signal_and_extras_go_to_the_other_columns(runs: list[RunDocument]) -> None:
    rows = read_rows(csv_report(runs))
    private = row_of(
        rows,
        "private-set_mempolicy-preferred-node2",
        "6.19.0-rc4-private-v5+ · private · private-v5",
    )
    assert (private["profile"], private["verdict"]) == ("private-v5", "fail")
    assert (private["expected_pages"], private["expected_other"]) == ("", "EINVAL")
    assert (private["observed_pages"], private["observed_other"]) == ("N2=256", "")
    killed = row_of(rows, "migration-move_pages-node2", "6.1.0-56-amd64 · default")
    assert (killed["verdict"], killed["expected_pages"], killed["observed_other"]) == (
        "error",
        "N2=65536",
        "SIGKILL",
    )
    assert "OOM killer choosing it" in killed["message"] and "\n" not in killed["message"]
    control = row_of(
        rows, "isolation-cpuless-unprotected-node2-negative-control", "6.1.0-56-amd64 · default"
    )
    assert control["expected_other"] == "leak detected on N2"
    assert control["observed_pages"] == "N0=188416 N1=190210 N2=4107"
    assert control["observed_other"] == 'leak_in_pages={"2":4021}'


def test_case_that_never_ran_has_empty_outcomes(runs: list[RunDocument]) -> None:
    row = row_of(
        read_rows(csv_report(runs)), "flags-mbind-static_nodes-node3", "6.1.0-56-amd64 · default"
    )
    assert row["verdict"] == "skip"
    assert [row[key] for key in COLUMNS if key.startswith(("expected", "observed"))] == [""] * 4
    assert row["message"] == "requires_nodes(4): topology 'default' has 3 memory nodes"


def test_no_pages_anywhere_is_said(runs: list[RunDocument]) -> None:
    row = row_of(
        read_rows(csv_report(runs)),
        "private-isolation-default-policy-under-pressure-node2",
        "6.19.0-rc4-private-v5+ · private · private-v5",
    )
    assert (row["expected_pages"], row["observed_pages"]) == ("no pages", "")


def test_commas_quotes_and_newlines_survive(runs: list[RunDocument]) -> None:
    tricky = dataclasses.replace(
        runs[0].cases[2], message='one, "two"\nthree', verdict=runs[0].cases[3].verdict
    )
    run = dataclasses.replace(runs[0], cases=(tricky,))
    text = csv_report([run])
    (row,) = read_rows(text)
    assert row["case"] == "placement-mbind-interleave-nodes0,1"
    assert row["message"] == 'one, "two" three'  # one line per row, for line-based tools
    assert text.count("\n") == 2


@pytest.mark.parametrize(
    ("message", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("-EFAULT+1", "'-EFAULT+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("pages per node {0: 1}", "pages per node {0: 1}"),
    ],
)
def test_free_text_never_runs_as_a_formula(
    runs: list[RunDocument], message: str, cell: str
) -> None:
    case = dataclasses.replace(runs[0].cases[2], message=message)
    (row,) = read_rows(csv_report([dataclasses.replace(runs[0], cases=(case,))]))
    assert row["message"] == cell
    assert row["case"] == "placement-mbind-interleave-nodes0,1"  # ids are left as they are


def test_repeated_runs_are_told_apart(runs: list[RunDocument]) -> None:
    rows = read_rows(csv_report([runs[0], runs[0]]))
    assert {row["run"] for row in rows} == {
        "6.1.0-56-amd64 · default",
        "6.1.0-56-amd64 · default #2",
    }


def test_guest_run_rows(runs: list[RunDocument]) -> None:
    rows = read_rows(csv_report([load(GUEST_RUN)]))
    assert len(rows) == 56 and {row["verdict"] for row in rows} == {"pass"}
    interleave = row_of(rows, "placement-mbind-interleave-nodes0,1,2", "6.1.0-56-amd64 · default")
    assert interleave["expected_pages"] == interleave["observed_pages"] == "N0=85 N1=85 N2=85"
    assert interleave["expected_other"].startswith('rule="interleave by page offset')
    readback = row_of(rows, "readback-set_mempolicy-local-from-node1", "6.1.0-56-amd64 · default")
    assert readback["expected_other"] == readback["observed_other"] == "no nodes, mode=4"
