"""The result document's contract against what real runs wrote: every recorded document
reads and writes back to the same JSON, and KTAP written from a run parses back to it."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from reports.document import (
    SCHEMA_VERSION,
    CaseResult,
    DocumentError,
    KtapStream,
    ResultDocument,
    Verdict,
    ktap_result_lines,
    ktap_text,
    load,
    parse_ktap,
)

DATA = Path(__file__).parent / "data"
RECORDED = sorted([*(DATA / "results").glob("*.json"), *(DATA / "ktap").glob("*.json")])
KTAP_RUNS = sorted((DATA / "ktap").glob("*.ktap"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_load_then_to_json_gives_the_recorded_document(path: Path) -> None:
    text = path.read_text()
    # Documents the suite wrote are compared byte for byte; the hand-indented ones by
    # their JSON text in the suite's own layout (which also compares every key's order).
    assert load(path).to_json() == json.dumps(json.loads(text), indent=1) + "\n"


# The documents `python -m vm run` wrote (the others were indented by hand).
SUITE_WRITTEN = [
    DATA / "results" / "guest-6.1.0-56-default-tcg.json",
    DATA / "ktap" / "6.1-default.json",
    DATA / "ktap" / "6.12-four-nodes.json",
]


@pytest.mark.parametrize("path", SUITE_WRITTEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_documents_written_by_the_suite_come_back_byte_for_byte(path: Path) -> None:
    assert load(path).to_json() == path.read_text()


def test_a_gzipped_document_reads_like_the_plain_one(tmp_path: Path) -> None:
    plain = DATA / "ktap" / "6.1-default.json"
    packed = tmp_path / "run.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert load(packed) == load(plain)


def test_unknown_keys_are_kept_in_their_place(tmp_path: Path) -> None:
    data = json.loads((DATA / "ktap" / "6.1-default.json").read_text())
    data["run"]["repeat"] = 3
    data["cases"][0]["retries"] = 1
    data["extra_section"] = {"a": 1}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    assert load(path).to_json() == path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "top level is not a JSON object"),
        ('{"schema": 2}', "result schema version 2 is not supported"),
        ('{"schema": true}', "result schema version true is not supported"),
        ('{"schema": 1, "suite": {}}', "no key 'kernel'"),
        ("{", "not valid JSON"),
    ],
)
def test_what_is_not_a_document_is_refused_in_one_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DocumentError, match=message) as raised:
        load(path)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_a_case_with_an_unknown_verdict_is_refused() -> None:
    case = CaseResult("a-b", "a").to_dict() | {"verdict": "maybe"}
    with pytest.raises(DocumentError, match="'maybe' is not a verdict"):
        CaseResult.from_dict(case)


def test_case_json_keeps_the_schema_order_and_rounds_the_duration() -> None:
    case = CaseResult("placement-x", "placement", verdict=Verdict.FAIL, duration_s=0.123456)
    assert list(case.to_dict()) == [
        "id",
        "area",
        "params",
        "verdict",
        "expected",
        "observed",
        "message",
        "duration_s",
    ]
    assert type(case.to_dict()["verdict"]) is str and case.to_dict()["verdict"] == "fail"
    assert case.to_dict()["duration_s"] == 0.1235


def test_a_new_document_carries_the_schema_and_suite() -> None:
    document = ResultDocument({}, {}, "mainline", {}, {})
    assert document.to_dict()["schema"] == SCHEMA_VERSION
    assert document.to_dict()["suite"] == {"name": "mempolicy-conformance", "version": "0.1.0"}


@pytest.mark.parametrize("ktap", KTAP_RUNS, ids=lambda p: p.stem)
def test_ktap_written_from_a_recorded_run_is_the_recorded_stream(ktap: Path) -> None:
    document = load(ktap.with_suffix(".json"))
    assert ktap_text(document.cases) == ktap.read_text()
    out = io.StringIO()
    stream = KtapStream(out)
    stream.plan(len(document.cases))
    for case in document.cases:
        stream.case(case.id, case.verdict, case.message)
    assert out.getvalue() == ktap.read_text()


@pytest.mark.parametrize("ktap", KTAP_RUNS, ids=lambda p: p.stem)
def test_a_recorded_stream_parses_back_to_its_run(ktap: Path) -> None:
    document = load(ktap.with_suffix(".json"))
    parsed = parse_ktap(ktap.read_text())
    assert [(c.id, c.area, c.verdict) for c in parsed] == [
        (c.id, c.area, c.verdict) for c in document.cases
    ]


def test_every_verdict_survives_write_then_parse() -> None:
    cases = [
        CaseResult("placement-a", "placement", verdict=Verdict.PASS),
        CaseResult("placement-b", "placement", verdict=Verdict.FAIL, message="pages {0: 3}\nmore"),
        CaseResult("modes-c", "modes", verdict=Verdict.UNSUPPORTED, message="needs Linux 6.9"),
        CaseResult("modes-d", "modes", verdict=Verdict.SKIP, message="needs 4 memory nodes"),
        CaseResult("errors-e", "errors", verdict=Verdict.ERROR, message="child raised: Boom"),
        CaseResult("errors-f", "errors", verdict=Verdict.SKIP, message=""),
    ]
    parsed = parse_ktap(ktap_text(cases))
    assert [(c.id, c.verdict) for c in parsed] == [(c.id, c.verdict) for c in cases]
    assert [c.message for c in parsed] == [
        "",
        "pages {0: 3} more",
        "needs Linux 6.9",
        "needs 4 memory nodes",
        "child raised: Boom",
        "skip",  # an empty reason is written as the verdict
    ]


def test_result_lines() -> None:
    assert ktap_result_lines(1, "placement-mbind-bind-node0", "pass", "") == [
        "ok 1 placement-mbind-bind-node0"
    ]
    assert ktap_result_lines(2, "x", "unsupported", "MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9") == [
        "ok 2 x # SKIP unsupported: MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9"
    ]
    assert ktap_result_lines(3, "x", "skip", "needs 4 memory nodes\n") == [
        "ok 3 x # SKIP needs 4 memory nodes"
    ]
    failed = ktap_result_lines(4, "a#b", "fail", "AssertionError: pages per node {0: 3}\nmore")
    assert failed == [
        "# AssertionError: pages per node {0: 3}",
        "# more",
        "# fail: a_b",
        "not ok 4 a_b",
    ]


def test_stream_writes_plan_then_cases() -> None:
    out = io.StringIO()
    stream = KtapStream(out)
    stream.plan(2)
    stream.case("a", "pass", "")
    stream.case("b", "error", "boom")
    assert out.getvalue() == "KTAP version 1\n1..2\nok 1 a\n# boom\n# error: b\nnot ok 2 b\n"


def test_the_suite_is_recorded_as_git_describe_of_the_checkout(tmp_path: Path) -> None:
    from reports.document import CHECKOUT, SUITE, suite_record

    version = suite_record()["version"]
    assert version != SUITE["version"] or not (CHECKOUT / ".git").exists()
    assert suite_record(tmp_path) == SUITE  # no git there: the fixed version, no error


def test_a_guest_takes_the_version_the_host_described(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host passes its `git describe` in the guest's environment: no git over 9p."""
    from reports.document import SUITE, SUITE_VERSION_ENV, suite_record
    from vm.runner import guest_command

    host_version = suite_record()["version"]
    assert f"{SUITE_VERSION_ENV}={host_version}" in guest_command(tmp_path, ["-m", "errors"])
    monkeypatch.setenv(SUITE_VERSION_ENV, "v1-2-gabc")
    assert suite_record(tmp_path) == {"name": SUITE["name"], "version": "v1-2-gabc"}
