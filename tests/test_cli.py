"""Bad input to the main command ends in one line naming the cause, never a traceback.

Each of these fails before anything is installed or downloaded.
"""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.profiles import load_profile
from reports.document import load as load_document
from vm.__main__ import ChosenProfile, _parser, choose_profile, guest_pytest_args
from vm.__main__ import main as vm_main
from vm.kernels import Kernel
from vm.phases import Guest
from vm.progress import Progress
from vm.runner import REPO_ROOT, GuestRun
from vm.topology import load_preset

CONSOLE = Path(__file__).parent / "data" / "console"
EXAMPLE = (
    REPO_ROOT
    / "reports"
    / "example"
    / "results"
    / "6.12.117_deb12-amd64--default--mainline.json.gz"
)


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """For `main` called here: input that gets past the checks stops before any fetch,
    build, install or boot."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bad input reached the kernel's preparation")

    monkeypatch.setattr("vm.__main__.prepare", refuse)


@pytest.fixture
def nothing_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """For `main` called here: prepare's checks run, but no install, fetch, build or boot."""
    for name in (
        "ensure_build_tools",
        "ensure_host_tools",
        "fetch_debian_source",
        "resolve_kernel",
        "build_tree",
        "run_in_vm",
    ):

        def refuse(*args: object, _name: str = name, **kwargs: object) -> None:
            raise AssertionError(f"the bad input reached {_name}")

        monkeypatch.setattr(f"vm.phases.{name}", refuse)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vm", "run", "--no-install", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(finished: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in finished.stderr


def test_missing_kernel_image() -> None:
    assert_one_line_error(
        run_cli("--kernel", "/nonexistent/bzImage"),
        "kernel image not found",
        "/nonexistent/bzImage",
    )


def test_unknown_distro_kernel() -> None:
    assert_one_line_error(run_cli("--kernel", "debian:2.4"), "debian:2.4", "6.1")


def test_unknown_topology() -> None:
    assert_one_line_error(run_cli("--topology", "nope"), "unknown topology 'nope'", "default")


def test_node_sizes_beyond_guest_memory(tmp_path: Path) -> None:
    preset = tmp_path / "big.toml"
    preset.write_text(
        "memory_mib = 1024\n[[nodes]]\nid = 0\ncpus = 1\nmemory_mib = 1024\n"
        "[[nodes]]\nid = 1\nmemory_mib = 4096\n"
    )
    assert_one_line_error(
        run_cli("--topology", str(preset)), "adds up to 5120 MiB but the guest has 1024 MiB"
    )


def test_unknown_profile() -> None:
    assert_one_line_error(run_cli("--profile", "nope"), "unknown profile 'nope'", "mainline")


@pytest.mark.parametrize(
    ("args", "shown"), [(["--help"], "run"), (["run", "--help"], "--topology")]
)
def test_help(args: list[str], shown: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "vm", *args], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    assert shown in finished.stdout


def test_kernel_without_numa(tmp_path: Path) -> None:
    # A real bzImage header (tests/data/kernels) with a config that lacks CONFIG_NUMA.
    header = Path(__file__).parent / "data" / "kernels" / "vmlinuz-6.1.0-56-amd64.head"
    image = tmp_path / "vmlinuz-6.1.0-56-amd64"
    image.write_bytes(header.read_bytes())
    (tmp_path / "config-6.1.0-56-amd64").write_text("CONFIG_SMP=y\n# CONFIG_NUMA is not set\n")
    assert_one_line_error(run_cli("--kernel", str(image)), "CONFIG_NUMA=y (is not set)")


@pytest.mark.parametrize(
    ("option", "value", "told"),
    [
        ("--repeat", "0", "argument --repeat: give a whole number of runs, 1 or more, not '0'"),
        ("--repeat", "two", "argument --repeat: give a whole number of runs"),
        ("--timeout", "-1", "argument --timeout: give a finite number of seconds above 0"),
        ("--timeout", "0", "argument --timeout: give a finite number of seconds above 0"),
        ("--timeout", "nan", "argument --timeout: give a finite number of seconds above 0"),
        ("--timeout", "inf", "argument --timeout: give a finite number of seconds above 0"),
        ("--append", "", "argument --append: give one kernel parameter without spaces"),
        ("--append", "a b", "argument --append: give one kernel parameter without spaces"),
        ("--append", "a\tb", "argument --append: give one kernel parameter without spaces"),
    ],
)
def test_bad_values_are_refused_as_the_command_line_is_read(
    option: str, value: str, told: str, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    # Before: --repeat 0 ended as "the guest left no result", --timeout -1 killed the VM at
    # once, nan never did, and a spaced --append reached vng; each after the kernel fetch.
    with pytest.raises(SystemExit) as exited:
        vm_main(["run", "--no-install", f"{option}={value}"])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()  # argparse's usage block is not shown
    assert line.startswith(f"python -m vm run: error: {told}") and line.endswith("(see --help)")


def test_good_values_are_read() -> None:
    args = _parser().parse_args(
        ["run", "--repeat", "3", "--timeout", "90.5", "--append", "a=1", "--append", "b"]
    )
    assert (args.repeat, args.timeout, args.append) == (3, 90.5, ["a=1", "b"])


def test_a_results_folder_that_cannot_be_made_is_one_line_before_the_boot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    # Before, results.mkdir raised FileExistsError (a traceback) after the whole run.
    taken = tmp_path / "results.json"
    taken.write_text("a file, not a folder")
    for results in (taken, taken / "under"):
        assert vm_main(["run", "--no-install", "--results", str(results)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [err[0]] and err[0].startswith(f"error: --results {results}: cannot make")
    made = tmp_path / "new" / "results"
    with pytest.raises(AssertionError, match="reached the kernel's preparation"):
        vm_main(["run", "--no-install", "--results", str(made)])
    assert made.is_dir()  # made before the boot, not after it


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any folder")
def test_a_results_folder_that_is_not_writable_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    tmp_path.chmod(0o555)
    try:
        assert vm_main(["run", "--no-install", "--results", str(tmp_path)]) == 2
    finally:
        tmp_path.chmod(0o755)
    assert "not writable" in capsys.readouterr().err


@pytest.fixture
def booted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """`main` up to a guest whose pytest selected no case (exit 5, the recorded console),
    with the kernel's preparation and the boot replaced: what each boot was given."""
    kernel = Kernel(tmp_path / "bzImage", "6.12.117+deb12-amd64", "test", None, None)
    guest = Guest(load_preset("default"), kernel, "tcg", Progress(io.StringIO()), tree=None)
    monkeypatch.setattr("vm.__main__.prepare", lambda request: guest)
    monkeypatch.setattr("vm.phases.RUNS_DIR", tmp_path / "runs")
    boots: list[dict[str, Any]] = []

    def run_in_vm(image: Path, preset: object, run_dir: Path, **options: Any) -> GuestRun:
        boots.append({"run_dir": run_dir, **options})
        run_dir.mkdir(parents=True, exist_ok=True)
        empty = load_document(EXAMPLE)  # what such a guest writes: a document without cases
        empty.cases = []
        empty.write(run_dir / "result.json")
        console = shutil.copyfile(CONSOLE / "pytest-no-case-selected-6.12.log", run_dir / "c.log")
        return GuestRun(run_dir, console, "ok", 15.0, 10.0, pytest_exit=5, crashes=())

    monkeypatch.setattr("vm.phases.run_in_vm", run_in_vm)
    return boots


def test_a_selection_that_left_no_case_writes_no_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], booted: list[dict[str, Any]]
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    earlier = results / "6.12.117_deb12-amd64--default--mainline.json"
    earlier.write_text("an earlier run's document")
    assert vm_main(["run", "--results", str(results), "--", "-k", "nomatch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]]
    assert err[0].startswith(
        "error: no case matched the selection after --: -k nomatch "
        "(pytest collected 927 items / 927 deselected / 0 selected)"
    )
    assert list(results.iterdir()) == [earlier]
    assert earlier.read_text() == "an earlier run's document"


def test_a_profile_file_goes_to_the_guest_as_a_copy_in_the_run_folder(
    tmp_path: Path, booted: list[dict[str, Any]]
) -> None:
    # A shipped profile's name kept: by name the guest loaded the shipped one instead.
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'name = "mainline"\nextends = "mainline"\n[tolerances]\ntask_interleave_pages = 9\n'
    )
    vm_main(["run", "--profile", str(mine), "--results", str(tmp_path / "results")])
    (boot,) = booted
    copy = boot["run_dir"] / "profile.toml"
    assert f"--profile={copy}" in boot["pytest_args"]
    assert load_profile(str(copy)) == load_profile(str(mine))


def test_a_profile_that_extends_a_sibling_goes_to_the_guest_whole(
    tmp_path: Path, booted: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guest loads the copy in the run folder, where `extends = "base.toml"` (taken from
    # the file's folder) would lead nowhere: the copy has its base laid in.
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "base.toml").write_text(
        'name = "base"\nextends = "mainline"\n[tolerances]\ntask_interleave_pages = 7\n'
    )
    mine = folder / "mine.toml"
    mine.write_text('name = "mine"\nextends = "base.toml"\n')
    monkeypatch.chdir(tmp_path)
    vm_main(["run", "--profile", str(mine), "--results", str(tmp_path / "results")])
    (boot,) = booted
    copy = boot["run_dir"] / "profile.toml"
    assert f"--profile={copy}" in boot["pytest_args"]
    guest_view = load_profile(str(copy))
    assert guest_view == load_profile(str(mine))
    assert guest_view.name == "mine" and guest_view.tolerance("task_interleave_pages") == 7


def test_a_profile_is_chosen_by_name_or_file(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\nextends = "mainline"\n')
    assert choose_profile(str(mine), "default") == ChosenProfile("mine", mine)
    assert choose_profile(None, "default") == ChosenProfile("mainline", None)
    assert choose_profile(None, "private-v4") == ChosenProfile("private-rfc-v4", None)
    kernel = Kernel(tmp_path / "bzImage", "6.12.117+deb12-amd64", "test", None, None)
    guest = Guest(load_preset("default"), kernel, "tcg", Progress(io.StringIO()), tree=None)
    run_dir = tmp_path / "run"
    shipped = guest_pytest_args(guest, ChosenProfile("mainline", None), run_dir, ["-x"])
    assert shipped == [
        "--topology-preset=default",
        "--kernel-source=test",
        "--profile=mainline",
        "-x",
    ]
    assert not run_dir.exists()  # nothing to copy for a shipped profile
    own = guest_pytest_args(guest, ChosenProfile("mine", mine), run_dir, [])
    assert own[2] == f"--profile={run_dir / 'profile.toml'}"


def test_a_folder_that_is_no_kernel_tree_costs_no_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_fetched: None
) -> None:
    not_a_tree = tmp_path / "linux"
    not_a_tree.mkdir()
    command = ["run", "--kernel", str(not_a_tree), "--results", str(tmp_path / "results")]
    assert vm_main(command) == 2  # installs allowed: only the order keeps apt from running
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: not a Linux kernel tree: {not_a_tree} (no Makefile")


@pytest.mark.parametrize(
    ("kernel", "option"),
    [
        ("/nonexistent/bzImage", ["--fragment", "debug-vm.config"]),
        ("debian:6.12", ["--fragment", "debug-vm.config"]),
        ("debian:6.12", ["--series", "series.mbox"]),
    ],
)
def test_tree_options_with_a_kernel_image_are_refused(
    kernel: str,
    option: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    nothing_fetched: None,
) -> None:
    # --fragment was silently ignored: the image booted without the config asked for.
    command = ["run", "--no-install", "--kernel", kernel, *option]
    assert vm_main([*command, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {option[0]} needs a kernel tree: --kernel PATH or debian-source:<name>, "
        f"not the kernel image {kernel}"
    ]


def test_a_misspelt_fragment_costs_no_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, nothing_fetched: None
) -> None:
    tree = tmp_path / "linux"
    for name in (
        "Makefile",
        "scripts/kconfig/merge_config.sh",
        "arch/x86/Kconfig",
        "mm/mempolicy.c",
    ):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    command = ["run", "--kernel", str(tree), "--fragment", "debug-mv.config"]
    assert vm_main([*command, "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: unknown config fragment 'debug-mv.config': choose from")
