"""Crash evidence from console logs captured from real guests (tests/data/console/)."""

from pathlib import Path

from vm.console import crashes, findings

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
