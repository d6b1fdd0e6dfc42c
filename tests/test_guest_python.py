"""Which Python the guest runs (vm/guest_python.py), and the guest's command with it."""

from __future__ import annotations

import json
import shlex
import sys
import sysconfig
from pathlib import Path

import pytest

from vm.errors import UserError
from vm.guest_python import ENV, VENV, GuestPython, choose, system_python
from vm.runner import guest_command

VERSION = list(sys.version_info[:3])


def fake_python(tmp_path: Path, version: list[int], *, canary_ok: bool = True) -> Path:
    """A script that answers the version question as a Python would (and the canary
    import as told), with a standard library of its own."""
    stdlib = tmp_path / "lib" / "python"
    (stdlib / "lib-dynload").mkdir(parents=True)
    answer = json.dumps(
        [version, sysconfig.get_config_var("EXT_SUFFIX"), [str(stdlib), f"{stdlib}/lib-dynload"]]
    )
    script = tmp_path / "bin" / "python"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'case "$3" in *sysconfig*) echo {shlex.quote(answer)}; exit 0;; esac\n'
        f"exit {0 if canary_ok else 1}\n"
    )
    script.chmod(0o755)
    return script


def test_the_standard_library_is_swapped_where_the_host_s_stood() -> None:
    host_stdlib = ("/h/lib/python311.zip", "/h/lib/python3.11", "/h/lib/python3.11/lib-dynload")
    host_path = ["/repo", "", *host_stdlib, "/venv/site-packages", "/repo"]
    guest = GuestPython(Path("/usr/bin/python3.11"), "3.11.2", ("/u/a", "/u/b"), ())
    assert guest.import_path(host_path, host_stdlib) == [
        "/repo",
        "/u/a",
        "/u/b",
        "/venv/site-packages",
        "/repo",
    ]


def test_venv_chooses_this_interpreter_and_shares_its_installation() -> None:
    chosen = choose({ENV: VENV})
    assert chosen.executable == Path(sys.executable)
    assert chosen.folders == (Path(sys.prefix), Path(sys.base_prefix))
    assert chosen.stdlib and all(entry in sys.path for entry in chosen.stdlib)


def test_a_chosen_python_that_does_not_run_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        choose({ENV: str(tmp_path / "python")})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{ENV}: {tmp_path / 'python'} does not run as a Python")
    assert f"{ENV}={VENV}" in message  # the fix


def test_a_chosen_python_of_another_version_is_refused(tmp_path: Path) -> None:
    other = fake_python(tmp_path, [VERSION[0], VERSION[1] + 1, 0])
    with pytest.raises(UserError, match=rf"is Python {VERSION[0]}\.{VERSION[1] + 1}\.0"):
        choose({ENV: str(other)})


def test_a_chosen_python_of_this_version_runs_with_its_own_library(tmp_path: Path) -> None:
    same = fake_python(tmp_path, [*VERSION[:2], 0])
    chosen = choose({ENV: str(same)})
    stdlib = tmp_path / "lib" / "python"
    assert chosen.executable == same and chosen.version == f"{VERSION[0]}.{VERSION[1]}.0"
    assert chosen.stdlib == (str(stdlib), f"{stdlib}/lib-dynload")
    # Shared with a page cache: the venv, the interpreter's folder and its library.
    assert chosen.folders == (Path(sys.prefix), same.parent, stdlib, stdlib / "lib-dynload")
    command = shlex.split(guest_command(tmp_path / "run", ["-m", "errors"], python=chosen))
    assert command[command.index("-S") - 1] == str(same)
    (path_word,) = [word for word in command if word.startswith("MEMPOLICY_GUEST_PATH=")]
    entries = path_word.split("=", 1)[1].split(":")
    assert str(stdlib) in entries and not any(
        entry.startswith(sys.base_prefix + "/lib/python") for entry in entries
    )


def test_a_system_python_that_cannot_load_the_venv_s_packages_leaves_the_venv_s(
    tmp_path: Path,
) -> None:
    broken = fake_python(tmp_path, [*VERSION[:2], 0], canary_ok=False)
    assert choose({}, system=broken).executable == Path(sys.executable)


def test_without_a_system_python_the_venv_s_runs(tmp_path: Path) -> None:
    assert choose({}, system=tmp_path / "python3.11").executable == Path(sys.executable)


@pytest.mark.skipif(
    not system_python().exists() or system_python().resolve() == Path(sys.executable).resolve(),
    reason="no system build of this Python version besides the venv's",
)
def test_the_system_build_is_chosen_when_it_differs_from_the_venv_s() -> None:
    chosen = choose({})
    assert chosen.executable == system_python()
    assert chosen.version.split(".")[:2] == [str(part) for part in VERSION[:2]]
    assert Path(sys.prefix) in chosen.folders and system_python().parent in chosen.folders
