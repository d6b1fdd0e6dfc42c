"""fixtures/workloads/filesystems.py: which file systems need modprobe, and the single
modprobe that loads a file system's modules."""

import subprocess
from pathlib import Path

import pytest

from fixtures.workloads import mappings
from fixtures.workloads.filesystems import SETUPS, _present

PROC_FILESYSTEMS = "nodev\ttmpfs\n\text4\nnodev\tproc\n"


@pytest.fixture
def filesystems(tmp_path: Path) -> Path:
    path = tmp_path / "filesystems"
    path.write_text(PROC_FILESYSTEMS)
    return path


def test_a_listed_file_system_on_a_loop_driver_needs_no_modprobe(
    filesystems: Path, tmp_path: Path
) -> None:
    control = tmp_path / "loop-control"
    control.touch()
    assert _present(SETUPS["ext4"], filesystems, control)
    assert _present(SETUPS["tmpfs"], filesystems, tmp_path / "absent")


def test_a_missing_file_system_or_loop_driver_needs_modprobe(
    filesystems: Path, tmp_path: Path
) -> None:
    control = tmp_path / "loop-control"
    assert not _present(SETUPS["ext4"], filesystems, control)  # no loop driver yet
    control.touch()
    assert not _present(SETUPS["xfs"], filesystems, control)


def test_modules_load_in_one_modprobe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr("shutil.which", lambda name, path=None: f"/sbin/{name}")
    monkeypatch.setattr("subprocess.run", run)
    mappings.load_modules("loop", "xfs")
    mappings.load_modules()
    assert calls == [["/sbin/modprobe", "-q", "-a", "loop", "xfs"]]
