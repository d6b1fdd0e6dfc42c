"""The phases of a run, each taking the user's `RunRequest`: fetch or build the kernel
(with a series applied to a copy of a tree), boot it, and read the guest's document back.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reports.document import DocumentError, ResultDocument
from reports.document import load as load_document
from vm.build import DEFAULT_FRAGMENTS, TreeBuild, build_tree, check_tree, fragment_paths
from vm.console import pytest_collected, pytest_stop_reason
from vm.errors import InfraError, UserError
from vm.flakes import fold, repetitions
from vm.host import choose_accel, ensure_build_tools, ensure_guest_tools, ensure_host_tools
from vm.kconfig import check_kernel_config
from vm.kernel_trees import fetch_debian_source, find_debian_source, is_debian_source
from vm.kernels import Kernel, resolve_kernel
from vm.progress import Progress
from vm.request import RunRequest
from vm.runner import REPO_ROOT, GuestRun, run_in_vm
from vm.salvage import salvage
from vm.series import SeriesTree, find_port, prepare_series_tree, read_series, tree_version
from vm.topology import TopologyPreset, load_preset

CACHE_DIR = Path.home() / ".cache" / "mempolicy-conformance"
# pytest's exit statuses (pytest.ExitCode) for a session that ran no case; named here so
# the host side does not import pytest.
PYTEST_INTERNAL_ERROR = 3
PYTEST_USAGE_ERROR = 4
PYTEST_NO_TESTS_COLLECTED = 5
RUNS_DIR = REPO_ROOT / "reports" / "runs"


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)


@dataclass(frozen=True)
class Guest:
    """Everything checked and fetched before a boot."""

    preset: TopologyPreset
    kernel: Kernel
    accel: str
    progress: Progress
    tree: TreeBuild | None  # when the kernel was built from a source tree
    series: SeriesTree | None = None  # when a patch series was applied to that tree


def kernel_from_tree(build: TreeBuild) -> Kernel:
    return Kernel(
        image=build.image,
        release=build.release,
        source=f"tree {build.tree} ({build.describe})",
        config=build.build_dir / ".config",
        modules_dir=None,
    )


def prepare(request: RunRequest) -> Guest:
    # Cheap checks first: a typo must not cost a kernel download.
    preset = load_preset(request.topology)
    progress = Progress()
    tree = None
    series = None
    source_tree = None
    # A typo in the tree's name must not cost the build tools' apt-get install.
    if is_debian_source(request.kernel):
        find_debian_source(request.kernel)
    elif Path(request.kernel).is_dir():
        check_tree(Path(request.kernel))
    else:  # an image (a distro kernel's too) boots as it is: nothing would use these
        for option, given in (("--series", request.series), ("--fragment", request.fragments)):
            if given:
                raise UserError(
                    f"{option} needs a kernel tree: --kernel PATH or debian-source:<name>, "
                    f"not the kernel image {request.kernel}"
                )
    if is_debian_source(request.kernel) or Path(request.kernel).is_dir():
        fragment_paths(request.fragments)  # a misspelt fragment: before the install too
        # Before the download: a missing flex must not surface deep in build.log.
        ensure_build_tools(install=request.install)
    if is_debian_source(request.kernel):
        source_tree = fetch_debian_source(request.kernel, cache_dir=CACHE_DIR / "kernels")
        progress.phase(f"source: {request.kernel} in {source_tree}")
    elif Path(request.kernel).is_dir():
        source_tree = Path(request.kernel)
    if source_tree is not None:
        fragments = (*DEFAULT_FRAGMENTS, *request.fragments)
        if request.series is not None:
            series = apply_series_to(source_tree, request.series, progress)
            source_tree = series.tree
            fragments += series.port.fragments if series.port else ()
        tree = build_tree(
            source_tree,
            cache_dir=CACHE_DIR / "builds",
            fragments=fragments,
            progress=progress.phase,
            tick=progress.tick,
        )
        kernel = kernel_from_tree(tree)
    else:
        kernel = resolve_kernel(request.kernel, cache_dir=CACHE_DIR / "kernels")
    if kernel.config is not None:
        check_kernel_config(kernel.config, kernel.release)
    ensure_host_tools(install=request.install)
    missing = ensure_guest_tools(install=request.install)
    if missing:
        progress.phase(f"{missing} (their cases will skip)")
    accel = choose_accel()
    # Phases are reported once they are done, so bad input still ends in a single line.
    progress.phase(f"kernel: {kernel.release} ({kernel.source})")
    return Guest(preset, kernel, accel, progress, tree, series)


def apply_series_to(tree: Path, mbox: Path, progress: Progress) -> SeriesTree:
    check_tree(tree)
    series = read_series(mbox)
    port = find_port(series, tree_version(tree))
    applying = len(port.patches) if port else len(series.patches)
    progress.phase(
        f"series: {series.subject}: {applying} of {series.total} patches"
        + (f", port {port.name}" if port else ", no port")
    )
    applied = prepare_series_tree(tree, series, port, cache_dir=CACHE_DIR / "series")
    progress.phase(f"series: applied in {applied.tree}")
    return applied


def run_folder(guest: Guest, label: str) -> Path:
    """Where one boot of `guest` keeps its files: the one folder the guest may write."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return RUNS_DIR / f"{stamp}-{safe_name(guest.kernel.release)}-{guest.preset.name}{label}"


def boot(
    guest: Guest,
    request: RunRequest,
    run_dir: Path,
    *,
    ktap_streams: int = 0,
    **options: Sequence[str],
) -> GuestRun:
    guest.progress.phase(f"guest: booting with topology {guest.preset.name} under {guest.accel}")
    run = run_in_vm(
        guest.kernel.image,
        guest.preset,
        run_dir,
        accel=guest.accel,
        append=[*guest.preset.guest_kernel_parameters(), *request.append],
        timeout_s=request.timeout_s,
        progress=guest.progress,
        ktap_streams=ktap_streams,
        **options,
    )
    done = f"boot {run.boot_s:.0f} s, " if run.boot_s is not None else ""
    guest.progress.phase(f"guest: {run.status}, {done}wall {run.wall_s:.0f} s")
    if run.fatal:
        raise UserError(run.fatal)
    stopped_early(run, request.guest_args)
    return run


def stopped_early(run: GuestRun, guest_args: Sequence[str] = ()) -> None:
    """A guest pytest that refused its arguments, broke before the cases, or was left no
    case by `guest_args` (what came after --) is one line naming why (read from the
    console, the only place pytest said it), not an empty table."""
    where = f"(console log: {run.console_log})"
    if run.pytest_exit == PYTEST_NO_TESTS_COLLECTED:
        collected = pytest_collected(run.console_log)
        counted = f" (pytest collected {collected})" if collected else ""
        if not guest_args:  # the whole matrix: nothing the user chose
            raise InfraError(f"the guest's pytest collected no case{counted} {where}")
        raise UserError(
            f"no case matched the selection after --: {shlex.join(guest_args)}{counted}; "
            f"check the -k/-m expressions {where}"
        )
    if run.pytest_exit not in (PYTEST_USAGE_ERROR, PYTEST_INTERNAL_ERROR):
        return
    reason = pytest_stop_reason(run.console_log) or "the console lost pytest's message"
    if run.pytest_exit == PYTEST_USAGE_ERROR:
        raise UserError(
            f"the guest's pytest refused its arguments: {reason}; the arguments after -- "
            f"go to pytest {where}"
        )
    raise InfraError(f"the guest's pytest stopped on an internal error: {reason} {where}")


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
