"""JUnit XML from real result documents (reports/example/results), one with an error and a
finding edited in: one testcase per case, each verdict as JUnit says it."""

import gzip
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from reports.junit import run_junit
from reports.results import load

EXAMPLE = Path(__file__).resolve().parent.parent / "reports" / "example" / "results"
RUN = EXAMPLE / "6.1.0-57-amd64--default--mainline.json.gz"


def suite_of(xml: str) -> ET.Element:
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    return suite


def test_every_case_is_a_testcase_and_the_counts_match_the_verdicts() -> None:
    doc = load(RUN)
    suite = suite_of(run_junit(doc))
    verdicts = Counter(str(case.verdict) for case in doc.cases)
    assert suite.get("tests") == str(len(doc.cases))
    assert suite.get("failures") == str(verdicts["fail"])
    assert suite.get("errors") == str(verdicts["error"])
    assert suite.get("skipped") == str(verdicts["skip"] + verdicts["unsupported"])
    names = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert names == [(case.area, case.id) for case in doc.cases]


def test_a_finding_is_a_failure_an_error_an_error_with_the_message(tmp_path: Path) -> None:
    document = json.loads(gzip.decompress(RUN.read_bytes()))
    first, second = document["cases"][:2]
    first.update(verdict="fail", message="AssertionError: pages per node {0: 255}\nmore")
    second.update(verdict="error", message="child ended (SIGSEGV) without a result")
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    cases = {c.get("name"): c for c in suite_of(run_junit(load(path))).iter("testcase")}
    failure = cases[first["id"]].find("failure")
    assert failure is not None
    assert failure.get("message") == "fail: AssertionError: pages per node {0: 255}"
    assert failure.text == first["message"]
    error = cases[second["id"]].find("error")
    assert error is not None and "SIGSEGV" in (error.text or "")
    passed = next(c["id"] for c in document["cases"] if c["verdict"] == "pass")
    assert list(cases[passed]) == []  # a pass is a bare testcase


def test_the_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "reports", "junit", str(RUN), "-o", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert suite_of(out.read_text()).get("tests") == str(len(load(RUN).cases))
