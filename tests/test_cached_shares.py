"""The cached shares (vm/cached_shares.py) and the guest's script that mounts them."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from vm.cached_shares import cached_shares, mount_script, vng_options
from vm.runner import guest_script


def test_one_share_per_folder_and_none_inside_another(tmp_path: Path) -> None:
    outer, inner, other = tmp_path / "venv", tmp_path / "venv" / "lib", tmp_path / "repo"
    for folder in (outer, inner, other):
        folder.mkdir(parents=True)
    shares = cached_shares([inner, other, outer, outer, Path("/")])
    assert [s.path for s in shares] == [other, outer]  # by depth, then by name
    assert len({s.tag for s in shares}) == 2


def test_qemu_options_escape_commas_and_stay_read_only(tmp_path: Path) -> None:
    odd = tmp_path / "a,b"
    odd.mkdir()
    (option,) = vng_options(cached_shares([odd]))
    words = shlex.split(option.removeprefix("--qemu-opts="))
    assert words[0] == "-fsdev" and f"path={tmp_path}/a,,b," in words[1]
    assert "readonly=on" in words[1]
    assert words[2] == "-device" and words[3].endswith("mount_tag=mpc.cache0")


def test_no_shares_no_script() -> None:
    assert mount_script((), Path("/r"), Path("/c")) == ""
    assert vng_options(()) == []


def test_busybox_runs_the_mounts_when_given_and_the_system_s_commands_when_not(
    tmp_path: Path,
) -> None:
    shares = cached_shares([tmp_path])
    with_box = mount_script(shares, Path("/r"), Path("/c"), Path("/bin/busybox"))
    assert with_box.splitlines()[0].endswith(" B=/bin/busybox")
    assert "$B mount -t 9p" in with_box and "$B umount -l" in with_box
    # Without one, $B expands to nothing: `$B mount` is the system's mount.
    plain = mount_script(shares, Path("/r"), Path("/c"))
    assert plain.splitlines()[0].endswith(" B=")
    for script in (with_box, plain):
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_the_guest_script_mounts_before_the_suite_starts(tmp_path: Path) -> None:
    shares = cached_shares([tmp_path])
    script = guest_script(tmp_path / "runs" / "x", ["-m", "readback"], ["--repeat", "1"], shares)
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)  # valid shell
    lines = script.splitlines()
    mount = next(i for i, line in enumerate(lines) if "mount -t 9p" in line)
    rebind = next(i for i, line in enumerate(lines) if 'mount -o bind "$H" "$R"' in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("exec "))
    assert mount < rebind < start
    assert "cache=loose" in lines[mount] and lines[mount].split()[-1] == str(tmp_path)
    assert lines[start - 1].startswith("cd ")
    assert lines[start].endswith(
        "-m vm.guest_entry --out " + str(tmp_path / "runs" / "x") + " --repeat 1 -- -m readback"
    )
