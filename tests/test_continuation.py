"""vm/continuation.py: after a guest died mid-matrix, the next boots and what they add."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.document import CaseResult, ResultDocument, Verdict
from vm.continuation import MAX_BOOTS, continue_after_crash, remaining_cases
from vm.runner import GuestRun


def _run(run_dir: Path, status: str, planned: list[str] | None = None) -> GuestRun:
    run_dir.mkdir(parents=True, exist_ok=True)
    if planned is not None:
        (run_dir / "planned_cases").write_text("\n".join(planned) + "\n")
    crashes = ("panic: Kernel panic - not syncing: sysrq triggered crash",)
    crashes = crashes if status != "ok" else ()
    return GuestRun(run_dir, run_dir / "console.log", status, 10.0, 5.0, None, crashes)


def _document(*ids: str, error: str | None = None) -> ResultDocument:
    cases = [CaseResult(i, i.split("-")[0], verdict=Verdict.PASS) for i in ids]
    if error is not None:
        cases.append(CaseResult(error, error.split("-")[0], verdict=Verdict.ERROR))
    return ResultDocument(kernel={}, topology={}, profile="mainline", host={}, run={}, cases=cases)


PLANNED = ["a-1", "a-2", "a-3", "a-4", "a-5"]


def test_the_cases_left_are_the_planned_ones_without_a_verdict(tmp_path: Path) -> None:
    run = _run(tmp_path / "first", "crashed", PLANNED)
    salvaged = _document("a-1", error="a-2")  # a-2 was running when the kernel died
    assert remaining_cases(run.run_dir, salvaged) == ["a-3", "a-4", "a-5"]
    assert remaining_cases(tmp_path / "no-collection", salvaged) == []


def test_a_dead_guest_is_continued_once_and_its_verdicts_added(tmp_path: Path) -> None:
    first = _run(tmp_path / "first", "crashed", PLANNED)
    document = _document("a-1", error="a-2")
    asked: list[list[str]] = []

    def boot_next(number: int, cases: list[str]) -> tuple[GuestRun, ResultDocument]:
        asked.append(cases)
        return _run(tmp_path / f"next{number}", "ok", cases), _document(*cases)

    boots = continue_after_crash(first, document, boot_next)
    assert asked == [["a-3", "a-4", "a-5"]]
    assert [c.id for c in document.cases] == PLANNED
    assert [c.verdict for c in document.cases].count(Verdict.ERROR) == 1
    assert [b.status for b in boots] == ["ok"]
    assert document.run["continued_after_crash"][0]["status"] == "ok"


def test_a_boot_that_dies_again_is_continued_past_its_own_crash(tmp_path: Path) -> None:
    first = _run(tmp_path / "first", "crashed", PLANNED)
    document = _document(error="a-1")

    def boot_next(number: int, cases: list[str]) -> tuple[GuestRun, ResultDocument]:
        run_dir = tmp_path / f"next{number}"
        if number == 1:  # dies in its second case
            return _run(run_dir, "crashed", cases), _document(cases[0], error=cases[1])
        return _run(run_dir, "ok", cases), _document(*cases)

    boots = continue_after_crash(first, document, boot_next)
    assert [b.status for b in boots] == ["crashed", "ok"]
    assert [c.id for c in document.cases] == PLANNED
    assert [c.id for c in document.cases if c.verdict == Verdict.ERROR] == ["a-1", "a-3"]


@pytest.mark.parametrize("progress", [True, False])
def test_boots_stop_at_the_limit_or_without_progress(tmp_path: Path, progress: bool) -> None:
    many = [f"a-{i}" for i in range(20)]
    first = _run(tmp_path / "first", "crashed", many)
    document = _document(error="a-0")

    def boot_next(number: int, cases: list[str]) -> tuple[GuestRun, ResultDocument]:
        run_dir = tmp_path / f"next{number}"
        finished = _document(error=cases[0]) if progress else _document()
        return _run(run_dir, "timeout", cases), finished

    boots = continue_after_crash(first, document, boot_next)
    assert len(boots) == (MAX_BOOTS if progress else 1)


def test_a_run_that_ended_well_boots_nothing_more(tmp_path: Path) -> None:
    first = _run(tmp_path / "first", "ok", PLANNED)
    document = _document(*PLANNED)

    def boot_next(number: int, cases: list[str]) -> tuple[GuestRun, ResultDocument]:
        raise AssertionError("no boot expected")

    assert continue_after_crash(first, document, boot_next) == []
    assert "continued_after_crash" not in document.run
