"""Crash evidence from console logs captured from real guests (tests/data/console/)."""

from dataclasses import replace
from pathlib import Path

import pytest

from vm.console import crashes, findings, pytest_collected, pytest_stop_reason
from vm.errors import InfraError, UserError
from vm.phases import stopped_early
from vm.runner import GuestRun

CONSOLE = Path(__file__).parent / "data" / "console"


def test_a_clean_boot_has_no_crash() -> None:
    assert crashes(CONSOLE / "clean-6.1.log") == []


def test_topology_warning_is_found() -> None:
    # QEMU's default CPU topology put both vCPUs of two nodes in one socket; 6.1 WARNs.
    found = crashes(CONSOLE / "warning-topology-6.1.log")
    assert len(found) == 1
    assert found[0].startswith("warning: WARNING: CPU: 1 PID: 0 at arch/x86/kernel/smpboot.c")


def test_panic_is_found() -> None:
    found = crashes(CONSOLE / "panic-sysrq-6.1.log")
    assert any(line.startswith("panic: Kernel panic - not syncing") for line in found)


def test_oom_is_evidence_not_a_crash() -> None:
    text = (
        "[   12.5] python3 invoked oom-killer: gfp_mask=0x140dca\n"
        "[   12.6] Out of memory: Killed process 311 (python3)\n"
    )
    assert [kind for kind, _ in findings(text)] == ["oom", "oom"]


def test_a_missing_log_has_nothing() -> None:
    assert crashes(CONSOLE / "absent.log") == []


def test_the_reason_pytest_refused_its_arguments() -> None:
    log = CONSOLE / "pytest-usage-error-6.12.log"  # `python -m vm run ... -- --bogus-option`
    assert pytest_stop_reason(log) == "unrecognized arguments: --bogus-option"


def test_the_reason_pytest_stopped_on_an_internal_error() -> None:
    # Two cases with one id, before results.py tolerated the stash key left unset: the
    # last exception is what the user saw, the KeyError that masked the usage error.
    log = CONSOLE / "pytest-internal-error-6.12.log"
    assert pytest_stop_reason(log).startswith("KeyError: <_pytest.stash.StashKey object")


def test_what_pytest_collected_before_deselecting_every_case() -> None:
    log = CONSOLE / "pytest-no-case-selected-6.12.log"  # `python -m vm run -- -k nomatch`
    assert pytest_collected(log) == "927 items / 927 deselected / 0 selected"
    assert pytest_collected(CONSOLE / "clean-6.1.log") == "56 items"
    assert pytest_collected(CONSOLE / "pytest-usage-error-6.12.log") == ""


def test_a_clean_run_has_no_stop_reason(tmp_path: Path) -> None:
    assert pytest_stop_reason(CONSOLE / "clean-6.1.log") == ""
    assert pytest_stop_reason(tmp_path / "missing.log") == ""


def guest_run(log: Path, pytest_exit: int) -> GuestRun:
    return GuestRun(
        run_dir=log.parent,
        console_log=log,
        status="ok",
        wall_s=15.0,
        boot_s=10.0,
        pytest_exit=pytest_exit,
        crashes=(),
        fatal=None,
        suite_s=2.0,
        first_case_s=None,
    )


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (4, UserError, "the guest's pytest refused its arguments: unrecognized arguments"),
        (3, InfraError, "the guest's pytest stopped on an internal error: KeyError"),
    ],
)
def test_a_guest_pytest_that_stopped_early_is_one_line(
    status: int, error: type[Exception], text: str
) -> None:
    log = CONSOLE / (
        "pytest-usage-error-6.12.log" if status == 4 else "pytest-internal-error-6.12.log"
    )
    run = guest_run(log, status)
    with pytest.raises(error, match=text) as raised:
        stopped_early(run)
    assert "\n" not in str(raised.value)
    stopped_early(replace(run, pytest_exit=1))  # failed cases: a verdict, not an error


def test_a_selection_that_left_no_case_is_one_line() -> None:
    # pytest's exit 5: the table would be empty and the run would pass.
    run = guest_run(CONSOLE / "pytest-no-case-selected-6.12.log", 5)
    with pytest.raises(UserError) as raised:
        stopped_early(run, ["-k", "nomatch and interleave"])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "no case matched the selection after --: -k 'nomatch and interleave' "
        "(pytest collected 927 items / 927 deselected / 0 selected)"
    )


def test_no_case_without_a_selection_is_the_suites_fault(tmp_path: Path) -> None:
    run = guest_run(tmp_path / "console.log", 5)  # the console lost pytest's lines
    with pytest.raises(InfraError, match="^the guest's pytest collected no case \\(console log"):
        stopped_early(run, [])
