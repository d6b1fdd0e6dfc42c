"""The benchmark table reads durations and areas from a result document."""

from __future__ import annotations

from reports.document import CaseResult, ResultDocument
from reports.speed import speed_table


def test_speed_table_sums_areas_and_the_time_outside_cases() -> None:
    document = ResultDocument(
        kernel={"release": "6.12.0"},
        topology={"preset": "default"},
        profile="mainline",
        host={"accel": "tcg"},
        run={"duration_s": 100.0, "boot_s": 12.0, "suite_s": 60.0},
        cases=[
            CaseResult("errors-a", "errors", duration_s=0.5),
            CaseResult("errors-b", "errors", duration_s=0.5),
            CaseResult("pressure-a", "pressure", duration_s=8.0),
        ],
    )
    table = speed_table(document)
    assert "| errors | 2 | 1.0 | 2.0 |" in table
    assert "| pressure | 1 | 8.0 | 0.1 |" in table
    assert "| **all cases** | 3 | 9.0 | 0.3 |" in table
    assert "outside cases (start, collection, reporting): 51.0 s" in table
    assert "boot (kernel start to the suite's start): 12.0 s" in table


def test_speed_table_counts_the_children_forked_directly_by_reason() -> None:
    document = ResultDocument(
        kernel={"release": "6.12.0"},
        topology={"preset": "default"},
        profile="mainline",
        host={"accel": "tcg"},
        run={"children": {"worker": 7, "direct: fill does not pickle (AttributeError)": 2}},
        cases=[CaseResult("errors-a", "errors", duration_s=0.5)],
    )
    table = speed_table(document)
    assert "- children: 7 from the worker, 2 forked directly" in table
    assert "  - 2 × fill does not pickle (AttributeError)" in table


def test_speed_table_says_the_boot_to_the_first_case_when_the_guest_measured_it() -> None:
    def table(run: dict[str, float]) -> str:
        document = ResultDocument(
            kernel={"release": "6.12.0"},
            topology={"preset": "default"},
            profile="mainline",
            host={"accel": "tcg"},
            run=run,
            cases=[CaseResult("errors-a", "errors", duration_s=0.5)],
        )
        return speed_table(document)

    assert "boot to the first case (kernel start on): 31.5 s" in table({"first_case_s": 31.5})
    assert "first case" not in table({"boot_s": 12.0})
