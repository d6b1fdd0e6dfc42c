"""The boot timeline (vm/boot_clock.py) read from a real guest's kernel log: a 6.12 boot
under TCG, kept raw as /dev/kmsg gave it (tests/data/boot/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vm.boot_clock import (
    KERNEL_MILESTONES,
    SuiteClock,
    boot_record,
    cached_mounts,
    kernel_stamps,
    kmsg_records,
    timeline,
)
from vm.guest_main import exit_status

KMSG = (Path(__file__).parent / "data" / "boot" / "kmsg-6.12-tcg.txt").read_text()


def test_every_milestone_of_a_virtme_ng_boot_is_found() -> None:
    stamps = kernel_stamps(kmsg_records(KMSG))
    assert list(stamps) == [name for name, _ in KERNEL_MILESTONES]
    assert stamps["kernel (to the initramfs)"] == pytest.approx(8.636656)
    assert stamps["udev: settle (coldplug)"] == pytest.approx(33.143923)
    assert sorted(stamps.values()) == list(stamps.values())  # boot order


def test_records_skip_continuation_lines() -> None:
    raw = "6,10,1500000,-;first\n SUBSYSTEM=pci\n4,11,2250000,c;second\n"
    assert kmsg_records(raw) == [(1.5, "first"), (2.25, "second")]


def test_phases_add_up_to_the_first_case() -> None:
    suite = {"python": 40.9, "guest_main": 41.35, "pytest": 41.8, "configured": 55.0}
    suite["collected"] = 90.0
    suite["first_case"] = 90.5
    record = boot_record(KMSG, suite)
    phases = record["phases"]
    assert phases[-1]["phase"] == "session setup to the first case"
    assert phases[-1]["ends_s"] == 90.5
    assert sum(p["s"] for p in phases) == pytest.approx(90.5, abs=0.05)
    assert all(p["s"] >= 0 for p in phases)


def test_a_missing_milestone_leaves_its_phase_out() -> None:
    """A kernel built with 9p boots without vng's initramfs: the init's phase then runs
    from the kernel's end, nothing is invented for the initramfs."""
    kernel = {"kernel (to the initramfs)": 3.0, "init: mounts, systemd-tmpfiles": 5.0}
    phases = timeline(kernel, {"python": 8.5, "guest_main": 9.0})
    assert [(p.name, p.seconds) for p in phases] == [
        ("kernel (to the initramfs)", 3.0),
        ("init: mounts, systemd-tmpfiles", 2.0),
        ("script to the suite (sh, Python start)", 3.5),
        ("module snapshot (read, installed)", 0.5),
    ]


def test_the_suite_clock_writes_at_the_first_case_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    clock = SuiteClock(path, {"pytest": 1.0})
    clock.pytest_configure()
    clock.pytest_collection_finish()
    assert not path.exists()
    clock.pytest_runtest_call()
    first = json.loads(path.read_text())
    assert list(first) == ["pytest", "configured", "collected", "first_case"]
    clock.pytest_runtest_call()
    clock.pytest_unconfigure()
    assert json.loads(path.read_text())["first_case"] == first["first_case"]


def test_cached_mounts_are_read_from_the_mount_table() -> None:
    mounts = (
        "/dev/root / 9p ro,relatime,access=any,msize=512000,trans=virtio 0 0\n"
        "mpc.cache0 /work/main 9p ro,relatime,cache=0xf,access=client,msize=512000 0 0\n"
        "virtme.initmount0 /work/main/reports/runs/x 9p rw,relatime,access=any 0 0\n"
    )
    assert cached_mounts(mounts) == {
        "/work/main": "ro,relatime,cache=0xf,access=client,msize=512000"
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [(0, 0), (1 << 8, 1), (9, 128 + 9)],  # exit(0), exit(1), killed by SIGKILL
)
def test_a_session_killed_by_a_signal_is_128_plus_it(status: int, expected: int) -> None:
    assert exit_status(status) == expected


def test_exit_status_of_a_real_child() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    assert exit_status(os.waitpid(pid, 0)[1]) == 3
