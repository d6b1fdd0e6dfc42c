"""Repeat mode folds N result documents into one and names the flaky cases."""

import copy
import json
from pathlib import Path

from reports.document import Verdict, load
from vm.flakes import fold, repetitions

RECORDED = Path(__file__).parent / "data" / "ktap" / "6.1-default.json"


def test_stable_runs_have_no_flakes(tmp_path: Path) -> None:
    document = json.loads(RECORDED.read_text())
    for name in ("result.json", "result.r2.json", "result.r10.json"):
        (tmp_path / name).write_text(json.dumps(document))
    merged = fold(repetitions(tmp_path))
    assert merged.run["repeat"] == 3 and merged.run["flaky_cases"] == {}
    assert [c.verdict for c in merged.cases] == [c["verdict"] for c in document["cases"]]


def test_a_case_that_moved_is_flaky_and_keeps_its_worst_verdict() -> None:
    first = load(RECORDED)
    second = copy.deepcopy(first)
    case_id = second.cases[3].id
    second.cases[3].verdict = Verdict.FAIL
    merged = fold([first, second, copy.deepcopy(first)])
    assert merged.run["flaky_cases"] == {case_id: ["pass", "fail", "pass"]}
    case = next(c for c in merged.cases if c.id == case_id)
    assert case.verdict == "fail"
    assert case.message.startswith("flaky over 3 runs: pass, fail, pass.")
    written = json.loads(merged.to_json())
    assert list(written["run"])[-2:] == ["repeat", "flaky_cases"]
