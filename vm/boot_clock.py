"""Where the guest's boot goes: one timeline from the kernel's start to the first case.

Every stamp is in seconds since the kernel started: the kernel log's own clock for what
happens before the suite (the kernel, vng's initramfs and init, udev), /proc/uptime for
the suite (the same clock). Each phase ends at a milestone; a milestone the log does not
carry (another init, bare metal) leaves its phase out instead of guessing.
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vm.cached_shares import TAG_PREFIX

# (phase, the kernel log message that ends it), in boot order. virtme-ng's Rust init
# logs "virtme-ng-init: ...", its bash fallback "virtme-init: ...".
KERNEL_MILESTONES = (
    ("kernel (to the initramfs)", re.compile(r"^Run /init as init process")),
    ("initramfs (9p modules, root mount)", re.compile(r"virtme initramfs: done")),
    ("init: mounts, systemd-tmpfiles", re.compile(r"virtme(-ng)?-init: basic initialization done")),
    ("udev: start", re.compile(r"virtme(-ng)?-init: triggering udev coldplug")),
    ("udev: trigger", re.compile(r"virtme(-ng)?-init: waiting for udev to settle")),
    ("udev: settle (coldplug)", re.compile(r"virtme(-ng)?-init: udev is done")),
    ("init: to the script", re.compile(r"virtme(-ng)?-init: starting script")),
)
# (phase, the suite's stamp that ends it), in order; the stamps are written by the suite.
SUITE_MILESTONES = (
    ("script to the suite (sh, Python start)", "python"),
    ("module snapshot (read, installed)", "guest_main"),
    ("suite to pytest (checks, fork)", "pytest"),
    ("pytest start (imports, plugins, configure)", "configured"),
    ("collection", "collected"),
    ("session setup to the first case", "first_case"),
)


def kmsg_records(raw: str) -> list[tuple[float, str]]:
    """(seconds, message) of each /dev/kmsg record ("prio,seq,usec,flags;message")."""
    records = []
    for line in raw.splitlines():
        head, sep, message = line.partition(";")
        fields = head.split(",")
        if not sep or len(fields) < 3 or not fields[2].isdigit():
            continue  # a continuation line (" KEY=value") or noise
        records.append((int(fields[2]) / 1e6, message))
    return records


def read_kmsg(path: str = "/dev/kmsg") -> str:
    """The kernel log the buffer still holds, raw; empty where it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    chunks = []
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten before we read it: go on
                    continue
                break  # EAGAIN: the end of the buffer
            if not record:
                break
            chunks.append(record.decode(errors="replace"))
    finally:
        os.close(fd)
    return "".join(chunks)


def kernel_stamps(records: list[tuple[float, str]]) -> dict[str, float]:
    """The first time each kernel-log milestone was logged, by phase name."""
    stamps: dict[str, float] = {}
    for seconds, message in records:
        for phase, pattern in KERNEL_MILESTONES:
            if phase not in stamps and pattern.search(message):
                stamps[phase] = seconds
    return stamps


@dataclass(frozen=True)
class Phase:
    name: str
    ends_s: float  # seconds since the kernel started
    seconds: float  # since the previous milestone that was found

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.name, "ends_s": round(self.ends_s, 2), "s": round(self.seconds, 2)}


def timeline(kernel: dict[str, float], suite: dict[str, float]) -> list[Phase]:
    """The phases found, in boot order, each with its length."""
    ends = [(name, kernel[name]) for name, _ in KERNEL_MILESTONES if name in kernel]
    ends += [(name, suite[stamp]) for name, stamp in SUITE_MILESTONES if stamp in suite]
    phases, previous = [], 0.0
    for name, end in ends:
        phases.append(Phase(name, end, end - previous))
        previous = end
    return phases


def boot_record(kmsg_raw: str, suite: dict[str, float]) -> dict[str, Any]:
    """What boot.json holds: the stamps and the phases between them."""
    kernel = kernel_stamps(kmsg_records(kmsg_raw))
    return {
        "kernel_stamps_s": kernel,
        "suite_stamps_s": suite,
        "phases": [phase.to_dict() for phase in timeline(kernel, suite)],
    }


def cached_mounts(mounts: str) -> dict[str, str]:
    """The cached shares (vm/cached_shares.py) /proc/self/mounts lists, mount point to
    options, so a run records whether its guest got them."""
    found = {}
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "9p" and fields[0].startswith(TAG_PREFIX):
            found[fields[1]] = fields[3]
    return found


def uptime_s() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


class SuiteClock:
    """A pytest plugin object: stamps the session's configure, the end of collection and
    the first case's call (session fixtures are up by then), and writes them at once to
    `path` (a run that dies later keeps its boot figures)."""

    def __init__(self, path: Path, stamps: dict[str, float]) -> None:
        self.path = path
        self.stamps = dict(stamps)

    def _stamp(self, name: str) -> None:
        if name not in self.stamps:
            self.stamps[name] = uptime_s()

    def pytest_configure(self) -> None:
        self._stamp("configured")

    def pytest_collection_finish(self) -> None:
        self._stamp("collected")

    def pytest_runtest_call(self) -> None:
        # The first case's call, after its setup brought up the session's fixtures.
        if "first_case" not in self.stamps:
            self._stamp("first_case")
            self.write()

    def pytest_unconfigure(self) -> None:
        self.write()

    def write(self) -> None:
        self.path.write_text(json.dumps(self.stamps) + "\n")
