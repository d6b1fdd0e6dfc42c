"""KTAP from the matrix: a stream recorded from a real guest run, read by the kernel's own
parser (tools/testing/kunit/kunit.py parse), whose counts must equal the
cases of the run's result document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kunit_tool import kunit_tool_dir

RECORDED = Path(__file__).parent / "data" / "ktap"


def recorded_runs() -> list[Path]:
    return sorted(RECORDED.glob("*.ktap"))


KUNIT_STATUS = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "FAIL",
    "skip": "SKIPPED",
    "unsupported": "SKIPPED",
}


@pytest.mark.parametrize("ktap", recorded_runs(), ids=lambda p: p.stem)
def test_kernel_parser_reads_a_real_guest_stream(ktap: Path, tmp_path: Path) -> None:
    tool = kunit_tool_dir()
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs the kernel's kunit tool (apt-get download linux-source-6.12)")
        pytest.skip("the kernel's kunit tool could not be fetched (needs apt-get and dpkg)")
    parsed_json = tmp_path / "parsed.json"
    command = [sys.executable, str(tool / "kunit.py"), "parse", str(ktap), f"--json={parsed_json}"]
    parsed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "Testing complete." in parsed.stdout, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    document = json.loads(ktap.with_suffix(".json").read_text())
    expected = {case["id"]: KUNIT_STATUS[case["verdict"]] for case in document["cases"]}
    seen = {
        case["name"]: case["status"] for case in json.loads(parsed_json.read_text())["test_cases"]
    }
    assert seen == expected
