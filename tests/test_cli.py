"""Bad input to the main command ends in one line naming the cause, never a traceback.

Each of these fails before anything is installed or downloaded.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from vm.__main__ import _parser
from vm.__main__ import main as vm_main
from vm.runner import REPO_ROOT


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """For `main` called here: input that gets past the checks stops before any fetch,
    build, install or boot."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bad input reached the kernel's preparation")

    monkeypatch.setattr("vm.__main__.prepare", refuse)


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
    assert told in capsys.readouterr().err


def test_good_values_are_read() -> None:
    args = _parser().parse_args(
        ["run", "--repeat", "3", "--timeout", "90.5", "--append", "a=1", "--append", "b"]
    )
    assert (args.repeat, args.timeout, args.append) == (3, 90.5, ["a=1", "b"])
