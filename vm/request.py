"""What the user asked for, read once from the command line.

Every phase (fetch, build, boot, run, report) takes a `RunRequest`; none of them sees
argparse, so a script or a test drives a phase with a plain dataclass.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from vm.runner import DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class RunRequest:
    kernel: str  # debian:<name>, debian-source:<name>, an image path or a tree path
    topology: str  # a preset name or a .toml path
    fragments: tuple[str, ...] = ()  # with a tree: Kconfig fragments beyond the defaults
    series: Path | None = None  # with a tree: an mbox to apply to a copy of it first
    profile: str | None = None  # None: the preset's profile, else mainline
    results: Path | None = None  # where the result document goes (None: reports/results)
    timeout_s: float = DEFAULT_TIMEOUT_S
    append: tuple[str, ...] = ()  # extra kernel parameters for the guest
    install: bool = True  # install missing host packages (as root)
    repeat: int = 1  # matrix runs in one boot
    guest_args: tuple[str, ...] = ()  # after --: pytest's (run) or the benchmark's (bench)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunRequest:
        return cls(
            kernel=args.kernel,
            topology=args.topology,
            fragments=tuple(args.fragment),
            series=args.series,
            profile=getattr(args, "profile", None),
            results=getattr(args, "results", None),
            timeout_s=args.timeout,
            append=tuple(args.append),
            install=not args.no_install,
            repeat=getattr(args, "repeat", 1),
            guest_args=tuple(getattr(args, "pytest_args", None) or getattr(args, "bench_args", [])),
        )
