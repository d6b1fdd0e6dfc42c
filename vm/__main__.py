"""`python -m vm run`: boot a kernel with a NUMA topology, run the matrix, print the table.
`python -m vm bench`: boot it and time the placement probes instead.

Every error the user can fix, or the machine caused, ends as one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixtures.profiles import ProfileError, load_profile, standalone_toml
from reports.arguments import CONSOLE, OneLineParser, at_least_one, started_as_console
from reports.document import ResultDocument, Verdict
from vm.continuation import ONLY_CASES_FILE, continue_after_crash
from vm.errors import InfraError, SuiteError, UserError
from vm.phases import Guest, boot, guest_document, prepare, run_folder, safe_name
from vm.request import RunRequest
from vm.runner import DEFAULT_TIMEOUT_S, REPO_ROOT, GuestRun
from vm.topology import load_preset

RESULTS_DIR = REPO_ROOT / "reports" / "results"
GUEST_PROFILE = "profile.toml"  # in the run folder: a user's profile file, made standalone


def _timeout_s(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"give a finite number of seconds above 0, not {text!r}")
    return seconds


def _kernel_parameter(text: str) -> str:
    # vng passes each --append on as one word of the guest's command line.
    if not text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"give one kernel parameter without spaces (repeat --append for more), not {text!r}"
        )
    return text


def _add_guest_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--kernel",
        default="debian:6.1",
        help="debian:6.1, debian:6.12, debian:7.2, debian:7.3, a kernel image path, or a kernel "
        "source tree to build: a folder or debian-source:6.12, debian-source:7.3 "
        "(default: %(default)s)",
    )
    command.add_argument(
        "--fragment",
        action="append",
        default=[],
        help="with a tree: another Kconfig fragment to merge, e.g. debug-vm.config (repeatable)",
    )
    command.add_argument(
        "--series",
        type=Path,
        default=None,
        help="with a tree: apply this patch series (an mbox, as `b4 am` writes it) to a copy "
        "of the tree first, with its port from vm/ports/ when the tree needs one",
    )
    command.add_argument(
        "--topology",
        default="default",
        help="topology preset name or .toml path (default: %(default)s)",
    )
    command.add_argument(
        "--timeout",
        type=_timeout_s,
        default=DEFAULT_TIMEOUT_S,
        help="seconds before the VM is killed",
    )
    command.add_argument(
        "--append",
        action="append",
        type=_kernel_parameter,
        default=[],
        help="extra kernel parameter (repeatable)",
    )
    command.add_argument(
        "--no-install",
        action="store_true",
        help="never install host packages, only say which are missing",
    )


def _parser() -> argparse.ArgumentParser:
    # Under the console entry its commands are vm's own: `mempolicy-conformance run`.
    prog = CONSOLE if started_as_console() else "python -m vm"
    parser = OneLineParser(prog=prog, description=__doc__)
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
        type=at_least_one("runs"),  # checked as the command line is read, before a download
        default=1,
        help="run the matrix N times in one boot and report cases whose verdict changed",
    )
    run.add_argument(
        "pytest_args",
        nargs="*",
        help="after --: passed to pytest in the guest (-k EXPR, -m MARK, -x)",
    )
    build = sub.add_parser(
        "build", help="fetch or build the kernel (tree, series) and say where it is; no boot"
    )
    _add_guest_options(build)
    bench = sub.add_parser("bench", help="boot a kernel and time the placement probes")
    _add_guest_options(bench)
    bench.add_argument(
        "bench_args",
        nargs="*",
        help="after --: passed to fixtures.system.bench_probe (--mib, --repeat)",
    )
    return parser


@dataclass(frozen=True)
class ChosenProfile:
    name: str  # the profile's own name: the result file's
    file: Path | None  # a user's profile file; None: a shipped profile, by that name


def choose_profile(requested: str | None, topology: str) -> ChosenProfile:
    """The run's profile, loaded here so that a bad one costs no boot."""
    chosen = requested or load_preset(topology).default_profile
    try:
        name = load_profile(chosen).name
    except ProfileError as exc:
        raise UserError(str(exc)) from None
    path = Path(chosen)  # load_profile's order: a file first, then a shipped name
    return ChosenProfile(name, path.resolve() if path.is_file() else None)


def results_folder(requested: Path | None) -> Path:
    """The folder for the result document, made before the boot: a run must not end, after
    all of it, unable to write its result."""
    results = requested or RESULTS_DIR
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--results {results}: cannot make that folder ({exc.strerror}); "
            "give a folder you can write"
        ) from None
    if not os.access(results, os.W_OK | os.X_OK):
        raise UserError(f"--results {results}: the folder is not writable; give one you can")
    return results


def guest_pytest_args(
    guest: Guest, profile: ChosenProfile, run_dir: Path, selection: Sequence[str]
) -> list[str]:
    """What the guest's pytest is given. A user's profile file goes by path, as a copy in
    the run folder (shared with the guest): by its name the guest would load a shipped
    profile of that name, or find none. The copy has what the file extends laid in: a
    path in `extends` is taken from the file's folder, which the copy is not in."""
    profile_option = profile.name
    if profile.file is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        copy = run_dir / GUEST_PROFILE
        copy.write_text(standalone_toml(str(profile.file)), encoding="utf-8")
        profile_option = str(copy)
    return [
        f"--topology-preset={guest.preset.name}",
        f"--kernel-source={guest.kernel.source}",
        f"--profile={profile_option}",
        *guest.preset.pytest_options(),
        *selection,
    ]


def command_run(request: RunRequest) -> int:
    profile = choose_profile(request.profile, request.topology)
    results = results_folder(request.results)
    guest = prepare(request)
    kernel, preset = guest.kernel, guest.preset
    started = time.time()
    run_dir = run_folder(guest, "")
    pytest_args = guest_pytest_args(guest, profile, run_dir, request.guest_args)
    repeat = ["--repeat", str(request.repeat)]
    run = boot(
        guest,
        request,
        run_dir,
        pytest_args=pytest_args,
        guest_options=repeat,
        ktap_streams=request.repeat,
    )
    guest_result = guest_document(run, request.repeat)
    if request.repeat > 1 and run.result_file.exists():
        flaky = guest_result.run["flaky_cases"]
        guest.progress.phase(f"repeat: {request.repeat} runs, {len(flaky)} flaky case(s)")

    def boot_next(number: int, cases: list[str]) -> tuple[GuestRun, ResultDocument]:
        guest.progress.phase(f"guest: died with {len(cases)} case(s) left; boot {number + 1}")
        next_dir = run_folder(guest, f"-continued{number}")
        next_dir.mkdir(parents=True, exist_ok=True)
        only = next_dir / ONLY_CASES_FILE
        only.write_text("\n".join(cases) + "\n")
        selection = [*request.guest_args, f"--only-cases={only}"]
        args = guest_pytest_args(guest, profile, next_dir, selection)
        once = ["--repeat", "1"]
        next_run = boot(
            guest, request, next_dir, pytest_args=args, guest_options=once, ktap_streams=1
        )
        return next_run, guest_document(next_run, 1)

    # Repetitions compare whole runs; a dead guest's rest is run again only once.
    continued = continue_after_crash(run, guest_result, boot_next) if request.repeat == 1 else []

    from reports.junit import run_junit
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
            "series": guest.series.record() if guest.series else None,
        }
    result_file = results / f"{safe_name(kernel.release)}--{preset.name}--{profile.name}.json"
    text = document.to_json()
    result_file.write_text(text)
    run.result_file.write_text(text)
    loaded = load(result_file)
    # From the document, so that a dead guest's run has one too (salvage).
    (run.run_dir / "junit.xml").write_text(run_junit(loaded), encoding="utf-8")
    print(markdown_report([loaded]))
    print(f"\nresult: {result_file}\nrun folder: {run.run_dir}", file=sys.stderr)
    for boot_run in (run, *continued):
        for line in boot_run.crashes:
            print(f"console: {line}", file=sys.stderr)
        if boot_run is not run:
            print(f"continued in: {boot_run.run_dir} ({boot_run.status})", file=sys.stderr)
    bad = [c for c in document.cases if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
    return 1 if bad or run.status != "ok" else 0


def command_build(request: RunRequest) -> int:
    guest = prepare(request)
    print(f"{guest.kernel.release}\t{guest.kernel.image}")
    return 0


def command_bench(request: RunRequest) -> int:
    bench_args = list(request.guest_args)
    # The guest parses them again; a bad one is refused here, before any download or boot.
    from fixtures.system.bench_probe import arguments

    arguments(prog=f"{_parser().prog} bench --").parse_args(bench_args)
    guest = prepare(request)
    run_dir = run_folder(guest, "-bench")
    run = boot(guest, request, run_dir, pytest_args=bench_args, guest_options=["--bench"])
    figures = run.run_dir / "bench.json"
    if not figures.exists():
        raise InfraError(f"{run.status}: the guest wrote no bench.json; console: {run.console_log}")
    from tabulate import tabulate

    data = json.loads(figures.read_text())
    print(f"{guest.kernel.release}, topology {guest.preset.name}, {guest.accel}, {data['mib']} MiB")
    print(tabulate(data["rows"], headers="keys", tablefmt="github", intfmt=","))
    if run.guest_fault_us is not None:  # vm/yardstick.py: how fast the host ran
        print(f"a page fault in the guest, after the probes: {run.guest_fault_us:.1f} µs")
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
        commands = {"bench": command_bench, "build": command_build, "run": command_run}
        return commands[args.command](RunRequest.from_args(args))
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
