"""`python -m vm run`: boot a kernel with a NUMA topology, run the matrix, print the table.
`python -m vm bench`: boot it and time the placement probes instead.

Every error the user can fix, or the machine caused, ends as one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixtures.profiles import ProfileError, load_profile
from reports.document import DocumentError, ResultDocument, Verdict
from reports.document import load as load_document
from vm.build import DEFAULT_FRAGMENTS, TreeBuild, build_tree
from vm.errors import InfraError, SuiteError, UserError
from vm.flakes import fold, repetitions
from vm.host import choose_accel, ensure_host_tools
from vm.kconfig import check_kernel_config
from vm.kernels import Kernel, resolve_kernel
from vm.progress import Progress
from vm.runner import DEFAULT_TIMEOUT_S, REPO_ROOT, GuestRun, run_in_vm
from vm.salvage import salvage
from vm.topology import TopologyPreset, load_preset

CACHE_DIR = Path.home() / ".cache" / "mempolicy-conformance"
RESULTS_DIR = REPO_ROOT / "reports" / "results"
RUNS_DIR = REPO_ROOT / "reports" / "runs"


def _add_guest_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--kernel",
        default="debian:6.1",
        help="debian:6.1, debian:6.12, a kernel image path, or a kernel source tree to build "
        "(default: %(default)s)",
    )
    command.add_argument(
        "--fragment",
        action="append",
        default=[],
        help="with a tree: another Kconfig fragment to merge, e.g. debug-vm.config (repeatable)",
    )
    command.add_argument(
        "--topology",
        default="default",
        help="topology preset name or .toml path (default: %(default)s)",
    )
    command.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds before the VM is killed"
    )
    command.add_argument(
        "--append", action="append", default=[], help="extra kernel parameter (repeatable)"
    )
    command.add_argument(
        "--no-install",
        action="store_true",
        help="never install host packages, only say which are missing",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="boot a kernel in QEMU and run the conformance matrix")
    _add_guest_options(run)
    run.add_argument(
        "--profile",
        default=None,
        help="kernel profile name or file (default: the preset's, else mainline)",
    )
    run.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        help="where the result document goes (default: reports/results)",
    )
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the matrix N times in one boot and report cases whose verdict changed",
    )
    run.add_argument(
        "pytest_args",
        nargs="*",
        help="after --: passed to pytest in the guest (-k EXPR, -m MARK, -x)",
    )
    bench = sub.add_parser("bench", help="boot a kernel and time the placement probes")
    _add_guest_options(bench)
    bench.add_argument(
        "bench_args",
        nargs="*",
        help="after --: passed to fixtures.system.bench_probe (--mib, --repeat)",
    )
    return parser


def _profile_name(name: str) -> str:
    try:
        return load_profile(name).name
    except ProfileError as exc:
        raise UserError(str(exc)) from None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)


@dataclass(frozen=True)
class Guest:
    """Everything checked and fetched before a boot."""

    preset: TopologyPreset
    kernel: Kernel
    accel: str
    progress: Progress
    tree: TreeBuild | None  # when the kernel was built from a source tree


def kernel_from_tree(build: TreeBuild) -> Kernel:
    return Kernel(
        image=build.image,
        release=build.release,
        source=f"tree {build.tree} ({build.describe})",
        config=build.build_dir / ".config",
        modules_dir=None,
    )


def prepare(args: argparse.Namespace) -> Guest:
    # Cheap checks first: a typo must not cost a kernel download.
    preset = load_preset(args.topology)
    progress = Progress()
    tree = None
    if Path(args.kernel).is_dir():
        fragments = (*DEFAULT_FRAGMENTS, *args.fragment)
        tree = build_tree(
            Path(args.kernel),
            cache_dir=CACHE_DIR / "builds",
            fragments=fragments,
            progress=progress.phase,
            tick=progress.tick,
        )
        kernel = kernel_from_tree(tree)
    else:
        kernel = resolve_kernel(args.kernel, cache_dir=CACHE_DIR / "kernels")
    if kernel.config is not None:
        check_kernel_config(kernel.config, kernel.release)
    ensure_host_tools(install=not args.no_install)
    accel = choose_accel()
    # Phases are reported once they are done, so bad input still ends in a single line.
    progress.phase(f"kernel: {kernel.release} ({kernel.source})")
    return Guest(preset, kernel, accel, progress, tree)


def boot(
    guest: Guest, args: argparse.Namespace, *, label: str, **options: Sequence[str]
) -> GuestRun:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run_dir = RUNS_DIR / f"{stamp}-{_safe(guest.kernel.release)}-{guest.preset.name}{label}"
    guest.progress.phase(f"guest: booting with topology {guest.preset.name} under {guest.accel}")
    run = run_in_vm(
        guest.kernel.image,
        guest.preset,
        run_dir,
        accel=guest.accel,
        append=[*guest.preset.guest_kernel_parameters(), *args.append],
        timeout_s=args.timeout,
        progress=guest.progress,
        **options,
    )
    done = f"boot {run.boot_s:.0f} s, " if run.boot_s is not None else ""
    guest.progress.phase(f"guest: {run.status}, {done}wall {run.wall_s:.0f} s")
    if run.fatal:
        raise UserError(run.fatal)
    return run


def guest_document(run: GuestRun, repeat: int) -> ResultDocument:
    """The guest's result document (its repetitions folded), or what survives of it when
    the guest died."""
    try:
        if run.result_file.exists():
            return fold(repetitions(run.run_dir)) if repeat > 1 else load_document(run.result_file)
        salvaged = salvage(run.run_dir, list(run.crashes))
    except DocumentError as error:
        raise InfraError(f"the guest wrote a broken result: {error}") from None
    if salvaged is None:
        raise InfraError(
            f"{run.status}: the guest left no result (not even its start); "
            f"console log: {run.console_log}"
        )
    return salvaged


def command_run(args: argparse.Namespace) -> int:
    profile = _profile_name(args.profile or load_preset(args.topology).default_profile)
    guest = prepare(args)
    kernel, preset = guest.kernel, guest.preset
    started = time.time()
    pytest_args = [
        f"--topology-preset={preset.name}",
        f"--kernel-source={kernel.source}",
        f"--profile={profile}",
        *preset.pytest_options(),
        *args.pytest_args,
    ]
    run = boot(
        guest, args, label="", pytest_args=pytest_args, guest_options=["--repeat", str(args.repeat)]
    )
    guest_result = guest_document(run, args.repeat)
    if args.repeat > 1 and run.result_file.exists():
        flaky = guest_result.run["flaky_cases"]
        guest.progress.phase(f"repeat: {args.repeat} runs, {len(flaky)} flaky case(s)")

    from reports.results import load
    from reports.table import markdown_report
    from vm.annotate import annotate

    document = annotate(guest_result, run, kernel, accel=guest.accel, started=started)
    if guest.tree is not None:
        document.kernel["tree"] = {
            "path": str(guest.tree.tree),
            "describe": guest.tree.describe,
            "fragments": list(guest.tree.fragments),
            "build_dir": str(guest.tree.build_dir),
            "rebuilt": guest.tree.rebuilt,
        }
    args.results.mkdir(parents=True, exist_ok=True)
    result_file = args.results / f"{_safe(kernel.release)}--{preset.name}--{profile}.json"
    text = document.to_json()
    result_file.write_text(text)
    run.result_file.write_text(text)
    print(markdown_report([load(result_file)]))
    print(f"\nresult: {result_file}\nrun folder: {run.run_dir}", file=sys.stderr)
    for line in run.crashes:
        print(f"console: {line}", file=sys.stderr)
    bad = [c for c in document.cases if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
    return 1 if bad or run.status != "ok" else 0


def command_bench(args: argparse.Namespace) -> int:
    guest = prepare(args)
    run = boot(guest, args, label="-bench", pytest_args=args.bench_args, guest_options=["--bench"])
    figures = run.run_dir / "bench.json"
    if not figures.exists():
        raise InfraError(f"{run.status}: the guest wrote no bench.json; console: {run.console_log}")
    from tabulate import tabulate

    data = json.loads(figures.read_text())
    print(f"{guest.kernel.release}, topology {guest.preset.name}, {guest.accel}, {data['mib']} MiB")
    print(tabulate(data["rows"], headers="keys", tablefmt="github", intfmt=","))
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job): unwound like Ctrl-C, so the guest goes down with us.
    QEMU runs in a session of its own; Python's default SIGTERM death would leave it on."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return command_bench(args) if args.command == "bench" else command_run(args)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except Terminated:
        print("error: terminated (SIGTERM); the guest was stopped", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("error: interrupted; the guest was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
