"""The report's "where the kernels differ" section, on recorded documents: a 6.1 run and
the same run relabelled as another kernel, then changed case by case."""

from __future__ import annotations

import dataclasses

from reports.differences import differences, differences_section
from reports.results import Outcome, RunDocument, Verdict, load
from tests.test_reports import DEBIAN_61, DEBIAN_612, PRIVATE_V5


def _with_case(doc: RunDocument, index: int, **changes: object) -> RunDocument:
    cases = list(doc.cases)
    cases[index] = dataclasses.replace(cases[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(doc, cases=tuple(cases))


def _two_kernels() -> tuple[RunDocument, RunDocument]:
    old = load(DEBIAN_61)
    return old, dataclasses.replace(old, kernel=dataclasses.replace(old.kernel, release="6.12.0"))


def test_alike_kernels_have_nothing_to_say() -> None:
    docs = list(_two_kernels())
    assert differences(docs) == []
    assert "behaved alike" in differences_section(docs)


def test_recorded_runs_show_their_real_differences() -> None:
    lines = differences([load(DEBIAN_61), load(DEBIAN_612)])
    assert any("`migration-move_pages-node2`" in line and ": error;" in line for line in lines)


def test_an_errno_gate_and_a_missing_mode_are_each_one_line() -> None:
    old, new = _two_kernels()
    gated = Outcome(errno="EFAULT", other={"rule": "no page [gate needs Linux 6.12: EFAULT here]"})
    old = _with_case(old, 0, expected=gated)
    new = _with_case(new, 0, expected=Outcome(errno="ENOENT", other={"rule": "no page"}))
    for index in (1, 2, 3, 4):  # four cases the old kernel lacks the feature for
        old = _with_case(old, index, verdict=Verdict.UNSUPPORTED, message="needs Linux 6.9")
    lines = differences([old, new])
    assert len(lines) == 2
    first_id, fifth_id = old.cases[0].id, old.cases[4].id
    assert f"`{first_id}`" in lines[0]
    assert "pass, expects EFAULT" in lines[0] and "pass, expects ENOENT" in lines[0]
    assert "[gate needs Linux 6.12: EFAULT here]" in lines[0]  # the gated kernel's reason
    assert lines[1].startswith("- default, 4 case(s)") and "and 1 more" in lines[1]
    assert "unsupported (needs Linux 6.9)" in lines[1] and f"`{fifth_id}`" not in lines[1]


def test_runs_of_other_topologies_are_not_compared() -> None:
    private = _with_case(load(PRIVATE_V5), 0, verdict=Verdict.FAIL)
    assert differences([load(DEBIAN_61), private]) == []
