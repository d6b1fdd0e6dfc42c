"""The benchmark table reads durations and areas from a result document, checked like
every report's: a wrong field is one line naming the file and the field, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reports.results import RunDocument, load
from reports.speed import speed_table

CHECKOUT = Path(__file__).resolve().parents[1]
RECORDED = CHECKOUT / "tests" / "data" / "results" / "debian-6.1.0-56-default.json"


def written(tmp_path: Path, run: dict[str, Any], cases: list[tuple[str, Any]]) -> Path:
    """A recorded document with `run` merged into its run record and `cases` (area,
    duration) in place of its own, each a copy of its first case."""
    document = json.loads(RECORDED.read_text(encoding="utf-8"))
    document["run"].update(run)
    first = document["cases"][0]
    document["cases"] = [
        {**first, "id": f"{area}-{index}", "area": area, "duration_s": duration}
        for index, (area, duration) in enumerate(cases)
    ]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def loaded(tmp_path: Path, run: dict[str, Any], cases: list[tuple[str, Any]]) -> RunDocument:
    return load(written(tmp_path, run, cases))


def test_speed_table_sums_areas_and_the_time_outside_cases(tmp_path: Path) -> None:
    run = {"duration_s": 100.0, "boot_s": 12.0, "suite_s": 60.0}
    cases = [("errors", 0.5), ("errors", 0.5), ("pressure", 8.0)]
    table = speed_table(loaded(tmp_path, run, cases))
    assert table.startswith("6.1.0-56-amd64 · default · tcg\n")
    assert "| errors | 2 | 1.0 | 2.0 |" in table
    assert "| pressure | 1 | 8.0 | 0.1 |" in table
    assert "| **all cases** | 3 | 9.0 | 0.3 |" in table
    assert "outside cases (start, collection, reporting): 51.0 s" in table
    assert "boot (kernel start to the suite's start): 12.0 s" in table
    assert "wall time on the host: 100.0 s" in table


def test_a_continued_run_says_whose_figures_the_guests_are(tmp_path: Path) -> None:
    boot = {"run_dir": "/runs/x-continued1", "console_findings": [], "duration_s": 30.0}
    run = {"suite_s": 60.0, "continued_after_crash": [{**boot, "status": "ok"}]}
    table = speed_table(loaded(tmp_path, run, [("errors", 0.5), ("pressure", 80.0)]))
    assert "- continued after a crash in 1 more boot(s) (ok): the suite and boot" in table
    assert "suite in the guest: 60.0 s" in table
    assert "outside cases" not in table  # 80.5 s of cases in two boots against one's 60


def test_a_continued_boot_without_a_status_is_refused(tmp_path: Path) -> None:
    run = {"continued_after_crash": [{"run_dir": "/runs/x-continued1"}]}
    path = written(tmp_path, run, [("errors", 0.5)])
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "speed", str(path)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
    )
    assert finished.returncode != 0
    assert "continued_after_crash[0]" in finished.stderr and "status" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_speed_table_counts_the_children_forked_directly_by_reason(tmp_path: Path) -> None:
    children = {"worker": 7, "direct: fill does not pickle (AttributeError)": 2}
    table = speed_table(loaded(tmp_path, {"children": children}, [("errors", 0.5)]))
    assert "- children: 7 from the worker, 2 forked directly" in table
    assert "  - 2 × fill does not pickle (AttributeError)" in table


def test_speed_table_says_the_boot_to_the_first_case_when_the_guest_measured_it(
    tmp_path: Path,
) -> None:
    def table(run: dict[str, float]) -> str:
        return speed_table(loaded(tmp_path, run, [("errors", 0.5)]))

    assert "boot to the first case (kernel start on): 31.5 s" in table({"first_case_s": 31.5})
    assert "first case" not in table({"boot_s": 12.0})


def test_speed_table_says_what_else_the_host_ran_beside_the_guest(tmp_path: Path) -> None:
    def table(run: dict[str, float]) -> str:
        return speed_table(loaded(tmp_path, run, [("errors", 0.5)]))

    beside = {"host_cores": 2, "host_other_cpu_s": 41.3, "host_steal_s": 0.2}
    assert "host CPU beside the guest: 41.3 s of 2 cores over the wall time, steal 0.2 s" in (
        table(beside)
    )
    assert "beside the guest" not in table({})  # documents from before the keys, bare metal


def test_speed_table_says_which_python_ran_the_suite(tmp_path: Path) -> None:
    run = {"python": "3.11.2 /usr/bin/python3.11"}
    table = speed_table(loaded(tmp_path, run, [("errors", 0.5)]))
    assert "- Python in the guest: 3.11.2 /usr/bin/python3.11" in table
    assert "Python" not in speed_table(loaded(tmp_path, {}, [("errors", 0.5)]))


def test_speed_table_says_what_a_page_fault_cost_in_the_guest(tmp_path: Path) -> None:
    table = speed_table(loaded(tmp_path, {"guest_fault_us": 6.24}, [("errors", 0.5)]))
    assert "- a page fault in the guest, after the cases: 6.2 µs" in table
    assert "page fault" not in speed_table(loaded(tmp_path, {}, [("errors", 0.5)]))


@pytest.mark.parametrize(
    ("run", "case_field", "named"),
    [
        ({}, ("duration_s", None), "cases[0].duration_s: must not be null"),
        ({"suite_s": "12"}, None, "run.suite_s: must be a number"),
        ({}, ("area", ["x"]), "cases[0].area: must be a string"),
        ({"children": [1]}, None, "run.children: must be a JSON object"),
        ({"children": {"worker": "7"}}, None, "run.children.worker: must be an integer"),
        ({"first_case_s": True}, None, "run.first_case_s: must be a number"),
        ({"host_other_cpu_s": "3"}, None, "run.host_other_cpu_s: must be a number"),
        ({"host_cores": 2.5}, None, "run.host_cores: must be an integer"),
        ({"python": 3.11}, None, "run.python: must be a string or null"),
        ({"guest_fault_us": "6"}, None, "run.guest_fault_us: must be a number"),
    ],
)
def test_a_wrong_field_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, run: dict[str, Any], case_field: tuple[str, Any] | None, named: str
) -> None:
    path = written(tmp_path, run, [("errors", 0.5)])
    if case_field is not None:
        document = json.loads(path.read_text(encoding="utf-8"))
        document["cases"][0][case_field[0]] = case_field[1]
        path.write_text(json.dumps(document), encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "speed", str(path)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr == f"reports: error: {path}: {named}\n"
