"""Bad input to the main command ends in one line naming the cause, never a traceback.

Each of these fails before anything is installed or downloaded.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from vm.runner import REPO_ROOT


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
