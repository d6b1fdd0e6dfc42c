"""The CI gate against real result documents (reports/example/results), one of them
edited in the test to hold a regression."""

import gzip
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from reports.gate import compare, junit, markdown
from reports.results import RunDocument, load
from vm.errors import UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "reports" / "example" / "results"
BASELINE = EXAMPLE / "6.1.0-57-amd64--default--mainline.json.gz"
OTHER_TOPOLOGY = EXAMPLE / "6.1.0-57-amd64--four-nodes--mainline.json.gz"
REGRESSED = "placement-mbind-interleave-nodes0,1,2"


def edited(tmp_path: Path, edit: Any, name: str = "current.json") -> Path:
    document = json.loads(gzip.decompress(BASELINE.read_bytes()))
    edit(document)
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def break_interleave(document: dict[str, Any]) -> None:
    cases = document["cases"]
    case = next(c for c in cases if c["id"] == REGRESSED)
    case["verdict"] = "fail"
    case["observed"] = {"pages": {"0": 255}}
    case["message"] = "AssertionError: pages per node {0: 255}"
    cases.append({**cases[0], "id": "placement-new-case"})
    cases.remove(next(c for c in cases if c["id"] == "readback-mbind-local-from-node1"))


def small_run(
    tmp_path: Path, name: str, verdicts: dict[str, str], status: str = "ok"
) -> RunDocument:
    """A document of the baseline's topology whose cases are `verdicts` (id -> verdict),
    each a copy of the baseline's first case, and whose run ended with `status`."""

    def edit(document: dict[str, Any]) -> None:
        first = document["cases"][0]
        document["cases"] = [{**first, "id": i, "verdict": v} for i, v in verdicts.items()]
        document["run"]["status"] = status

    return load(edited(tmp_path, edit, name))


def test_identical_runs_pass() -> None:
    result = compare(load(BASELINE), load(BASELINE))
    assert result.passed and not result.gains and not result.new_cases


def test_a_regression_fails_the_gate_and_is_named(tmp_path: Path) -> None:
    result = compare(load(BASELINE), load(edited(tmp_path, break_interleave)))
    assert not result.passed
    assert [c.case_id for c in result.regressions] == [REGRESSED]
    assert [c.case_id for c in result.new_cases] == ["placement-new-case"]
    assert [c.case_id for c in result.missing] == ["readback-mbind-local-from-node1"]
    assert not result.vanished


def test_a_run_that_ran_no_case_fails_the_gate(tmp_path: Path) -> None:
    result = compare(load(BASELINE), small_run(tmp_path, "empty.json", {}))
    assert not result.passed and not result.regressions
    assert result.run_problems == ("the run ran no case",)
    assert len(result.missing) == 873  # every case the baseline passed
    assert markdown(result).startswith(
        "## mempolicy gate: FAILED: the run ran no case; 873 case(s) that passed in the"
        " baseline did not run\n"
    )


@pytest.mark.parametrize("status", ["crashed", "timeout", "lost-vm", "fatal"])
def test_a_run_that_did_not_finish_fails_the_gate_even_if_its_cases_passed(
    tmp_path: Path, status: str
) -> None:
    verdicts = {"placement-a": "pass", "placement-b": "pass"}
    baseline = small_run(tmp_path, "baseline.json", verdicts)
    result = compare(baseline, small_run(tmp_path, "current.json", verdicts, status))
    assert not result.passed and not result.regressions and not result.missing
    (problem,) = result.run_problems
    assert problem.startswith(f"the run did not finish (run.status {status!r}, not 'ok')")
    assert "not evidence of conformance" in markdown(result)


def test_a_case_missing_now_fails_only_if_it_passed_in_the_baseline(tmp_path: Path) -> None:
    baseline = small_run(
        tmp_path,
        "baseline.json",
        {"a-pass": "pass", "b-skip": "skip", "c-unsupported": "unsupported", "d-fail": "fail"},
    )
    result = compare(baseline, small_run(tmp_path, "current.json", {"b-skip": "skip"}))
    assert not result.passed
    assert [(c.case_id, c.before) for c in result.missing] == [("a-pass", "pass")]
    assert [c.case_id for c in result.vanished] == ["c-unsupported", "d-fail"]
    without_the_pass = small_run(tmp_path, "current2.json", {"a-pass": "pass"})
    assert compare(baseline, without_the_pass).passed


def test_junit_fails_the_missing_cases_and_the_run(tmp_path: Path) -> None:
    baseline = small_run(tmp_path, "baseline.json", {"a-pass": "pass", "b-pass": "pass"})
    result = compare(baseline, small_run(tmp_path, "current.json", {"a-pass": "pass"}, "crashed"))
    suite = ET.fromstring(junit(result))
    failed = [t.get("name") for t in suite.iter("testcase") if t.find("failure") is not None]
    assert failed == ["run", "b-pass"]
    assert suite.get("failures") == "2" and suite.get("tests") == "3"


def test_cli_fails_an_empty_run_and_says_why(tmp_path: Path) -> None:
    empty = edited(tmp_path, lambda document: document.update(cases=[]))
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "gate", str(BASELINE), str(empty)],
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 1
    assert "## mempolicy gate: FAILED: the run ran no case;" in finished.stdout
    lines = finished.stderr.splitlines()
    assert lines[0] == f"NOT EVIDENCE {empty}: the run ran no case"
    assert lines[1].startswith("MISSING ") and lines[1].endswith(
        ": passed in the baseline, not in this run"
    )
    assert lines[-1] == "MISSING ... and 853 more: the summary lists every one"


def test_unsupported_to_pass_is_a_gain(tmp_path: Path) -> None:
    def unsupported_first(document: dict[str, Any]) -> None:
        document["cases"][0]["verdict"] = "unsupported"

    result = compare(load(edited(tmp_path, unsupported_first)), load(BASELINE))
    assert result.passed
    assert [(c.before, c.after) for c in result.gains] == [("unsupported", "pass")]


def test_a_baseline_of_another_topology_is_refused() -> None:
    with pytest.raises(UserError, match="compare runs of the same topology"):
        compare(load(OTHER_TOPOLOGY), load(BASELINE))


def test_cli_exit_status_lines_and_junit(tmp_path: Path) -> None:
    current = edited(tmp_path, break_interleave)
    junit = tmp_path / "gate.xml"
    summary = tmp_path / "summary.md"
    command = [sys.executable, "-m", "reports", "gate", str(BASELINE), str(current)]
    finished = subprocess.run(
        [*command, "--junit", str(junit), "--summary", str(summary)], capture_output=True, text=True
    )
    assert finished.returncode == 1
    missing, line = finished.stderr.splitlines()
    assert missing == (
        "MISSING readback-mbind-local-from-node1: passed in the baseline, not in this run"
    )
    assert line.startswith(f"REGRESSION {REGRESSED}: pass -> fail; expected N0=85 N1=85 N2=85")
    assert line.endswith("observed N0=255")
    assert "FAILED: 1 regression(s); 1 case(s) that passed" in summary.read_text()
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "2"
    failed = [t.get("name") for t in suite.iter("testcase") if t.find("failure") is not None]
    assert failed == [REGRESSED, "readback-mbind-local-from-node1"]


def test_cli_refuses_another_topology_in_one_line() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "gate", str(OTHER_TOPOLOGY), str(BASELINE)],
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 2
    assert len(finished.stderr.splitlines()) == 1 and "same topology" in finished.stderr
