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

from reports.gate import compare
from reports.results import load
from vm.errors import UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "reports" / "example" / "results"
BASELINE = EXAMPLE / "6.1.0-57-amd64--default--mainline.json.gz"
OTHER_TOPOLOGY = EXAMPLE / "6.1.0-56-amd64--four-nodes--mainline.json.gz"
REGRESSED = "placement-mbind-interleave-nodes0,1,2"


def edited(tmp_path: Path, edit: Any) -> Path:
    document = json.loads(gzip.decompress(BASELINE.read_bytes()))
    edit(document)
    path = tmp_path / "current.json"
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


def test_identical_runs_pass() -> None:
    result = compare(load(BASELINE), load(BASELINE))
    assert result.passed and not result.gains and not result.new_cases


def test_a_regression_fails_the_gate_and_is_named(tmp_path: Path) -> None:
    result = compare(load(BASELINE), load(edited(tmp_path, break_interleave)))
    assert not result.passed
    assert [c.case_id for c in result.regressions] == [REGRESSED]
    assert [c.case_id for c in result.new_cases] == ["placement-new-case"]
    assert [c.case_id for c in result.vanished] == ["readback-mbind-local-from-node1"]


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
    (line,) = finished.stderr.splitlines()
    assert line.startswith(f"REGRESSION {REGRESSED}: pass -> fail; expected N0=85 N1=85 N2=85")
    assert line.endswith("observed N0=255")
    assert "FAILED: 1 regression(s)" in summary.read_text()
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    failed = [t.get("name") for t in suite.iter("testcase") if t.find("failure") is not None]
    assert failed == [REGRESSED]


def test_cli_refuses_another_topology_in_one_line() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "gate", str(OTHER_TOPOLOGY), str(BASELINE)],
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 2
    assert len(finished.stderr.splitlines()) == 1 and "same topology" in finished.stderr
