"""Salvaging a run whose guest died: recorded head and KTAP, a real panic console."""

import json
from pathlib import Path

from reports.document import parse_ktap
from vm.console import crashes
from vm.salvage import salvage

DATA = Path(__file__).parent / "data"
KTAP = """KTAP version 1
1..5
ok 1 placement-mbind-bind-node0
# AssertionError: pages per node {0: 255}, expected {1: 255}
# fail: placement-mbind-bind-node1
not ok 2 placement-mbind-bind-node1
ok 3 modes-mbind-weighted-interleave-nodes0,1 # SKIP unsupported: needs Linux 6.9
# child raised: ProbeDisagreement
# error: placement-mbind-bind-node2
not ok 4 placement-mbind-bind-node2
"""


# The session's order: the four cases KTAP has, the one running when the guest died, one
# that never started.
PLANNED = """placement-mbind-bind-node0
placement-mbind-bind-node1
modes-mbind-weighted-interleave-nodes0,1
placement-mbind-bind-node2
placement-mbind-interleave-nodes0,1
placement-mbind-preferred-node1
"""


def test_ktap_cases_keep_every_verdict() -> None:
    cases = {c.id: c for c in parse_ktap(KTAP)}
    assert [c.verdict for c in cases.values()] == ["pass", "fail", "unsupported", "error"]
    assert cases["placement-mbind-bind-node1"].message.startswith("AssertionError")
    assert cases["modes-mbind-weighted-interleave-nodes0,1"].message == "needs Linux 6.9"


def test_the_running_case_takes_the_blame_for_a_panic(tmp_path: Path) -> None:
    head = json.loads((DATA / "ktap" / "6.1-default.json").read_text())
    head["cases"] = []
    (tmp_path / "result-head.json").write_text(json.dumps(head))
    (tmp_path / "results.ktap").write_text(KTAP)
    (tmp_path / "planned_cases").write_text(PLANNED)
    panic = crashes(DATA / "console" / "panic-sysrq-6.1.log")
    document = salvage(tmp_path, panic)
    assert document is not None
    last = document.cases[-1]
    assert last.id == "placement-mbind-interleave-nodes0,1"
    assert last.verdict == "error"
    assert "Kernel panic - not syncing: sysrq triggered crash" in last.message
    assert len(document.cases) == 5
    assert document.kernel["release"] == "6.1.0-56-amd64"


def test_nothing_to_salvage_without_a_head(tmp_path: Path) -> None:
    assert salvage(tmp_path, []) is None


def test_a_salvaged_document_is_written_as_before(tmp_path: Path) -> None:
    """The salvaged cases carry what KTAP carries and nothing invented: the same JSON the
    hand-assembled salvage wrote."""
    head = json.loads((DATA / "ktap" / "6.1-default.json").read_text())
    head["cases"] = []
    (tmp_path / "result-head.json").write_text(json.dumps(head))
    (tmp_path / "results.ktap").write_text(KTAP)
    planned = PLANNED.replace("placement-mbind-interleave-nodes0,1", "placement-x")
    (tmp_path / "planned_cases").write_text(planned)
    document = salvage(tmp_path, ["panic: Kernel panic - not syncing: x"])
    assert document is not None
    written = json.loads(document.to_json())
    assert list(written) == list(head)
    assert written["cases"][1] == {
        "id": "placement-mbind-bind-node1",
        "area": "placement",
        "params": {},
        "verdict": "fail",
        "expected": None,
        "observed": None,
        "message": "AssertionError: pages per node {0: 255}, expected {1: 255}",
        "duration_s": 0.0,
    }
    assert written["cases"][-1] == {
        "id": "placement-x",
        "area": "placement",
        "params": {},
        "verdict": "error",
        "expected": None,
        "observed": {"kernel_log": ["panic: Kernel panic - not syncing: x"]},
        "message": "the guest died during this case: panic: Kernel panic - not syncing: x",
        "duration_s": 0.0,
    }


def test_a_guest_that_died_after_its_last_case_blames_no_case(tmp_path: Path) -> None:
    head = json.loads((DATA / "ktap" / "6.1-default.json").read_text())
    head["cases"] = []
    (tmp_path / "result-head.json").write_text(json.dumps(head))
    (tmp_path / "results.ktap").write_text(KTAP)
    (tmp_path / "planned_cases").write_text("".join(c.id + "\n" for c in parse_ktap(KTAP)))
    document = salvage(tmp_path, ["panic: Kernel panic - not syncing: x"])
    assert document is not None
    assert [c.verdict for c in document.cases] == ["pass", "fail", "unsupported", "error"]
    assert len(document.cases) == 4  # no case added: every planned one had finished


def test_the_first_case_takes_the_blame_when_none_finished(tmp_path: Path) -> None:
    head = json.loads((DATA / "ktap" / "6.1-default.json").read_text())
    head["cases"] = []
    (tmp_path / "result-head.json").write_text(json.dumps(head))
    (tmp_path / "results.ktap").write_text("KTAP version 1\n1..6\n")
    (tmp_path / "planned_cases").write_text(PLANNED)
    document = salvage(tmp_path, [])
    assert document is not None
    (only,) = document.cases
    assert only.id == "placement-mbind-bind-node0" and only.verdict == "error"
    assert "the guest hung or was lost" in only.message
