"""Which Python the guest runs: the system's build of the venv's Python version when
there is one that loads the venv's packages, else the venv's own interpreter.

Under TCG every instruction of the interpreter is emulated, so how the interpreter was
built shows in every case. A Python built from source with its defaults (pyenv's 3.11.7
on these machines: a shared libpython, no --enable-optimizations, no LTO) runs a
pickle-and-dataclass loop 20 % slower natively than Debian's /usr/bin/python3.11 (3.11.2,
libpython linked in). In a 6.12 guest the errno cases ran ~19 % faster with Debian's and
the whole `default` matrix's suite ~12 % (alternating boots, README's Benchmarks). Same version,
same extension ABI: the venv's compiled packages (cffi's backend) load in either, so the
guest runs the system's interpreter with the venv's packages on its path, and its own
standard library.

MEMPOLICY_GUEST_PYTHON chooses instead: "venv" for the venv's interpreter, or the path
of another one of the same version.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vm.errors import UserError

ENV = "MEMPOLICY_GUEST_PYTHON"
VENV = "venv"
# Asked of a candidate with -S, so its path is its own: version, extension suffix, path.
_QUESTION = (
    "import json, sys, sysconfig; print(json.dumps([list(sys.version_info[:3]),"
    " sysconfig.get_config_var('EXT_SUFFIX'), sys.path[1:]]))"
)
# What the guest imports from the venv before any case: a candidate that cannot is not used.
_CANARY = "import _cffi_backend, pytest"
PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class GuestPython:
    """An interpreter for the guest, and where its standard library lies."""

    executable: Path
    version: str  # "3.11.2"
    stdlib: tuple[str, ...]  # its import path without site: the zip, lib, lib-dynload
    # What the guest reads of it, for the cached shares (vm/cached_shares.py): the venv
    # (its packages) and the interpreter's own folders.
    folders: tuple[Path, ...]

    def import_path(self, host_path: Sequence[str], host_stdlib: Sequence[str]) -> list[str]:
        """The host's import path with the host interpreter's standard library swapped
        for this one's, where the first of it stood."""
        path: list[str] = []
        placed = False
        for entry in host_path:
            if entry in host_stdlib:
                if not placed:
                    path.extend(self.stdlib)
                    placed = True
            elif entry:
                path.append(entry)
        return path if placed else [*path, *self.stdlib]


def _describe(executable: Path) -> tuple[tuple[int, ...], str, tuple[str, ...]]:
    """A Python's version, extension suffix and import path without site; OSError or
    ValueError when it does not answer as a Python of ours would."""
    done = subprocess.run(
        [str(executable), "-S", "-c", _QUESTION],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise ValueError(said[-1] if said else f"exit {done.returncode}")
    version, suffix, path = json.loads(done.stdout)
    return tuple(version), str(suffix), tuple(str(entry) for entry in path)


def _loads_venv_packages(executable: Path, path: Sequence[str]) -> bool:
    done = subprocess.run(
        [str(executable), "-S", "-c", _CANARY],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def _ours() -> GuestPython:
    """The venv's interpreter: the venv and the installation it was made from."""
    folders = (Path(sys.prefix), Path(sys.base_prefix))
    return GuestPython(Path(sys.executable), _ours_shown(), host_stdlib(), folders)


@functools.cache
def host_stdlib() -> tuple[str, ...]:
    """The standard library's entries of this process's import path."""
    _, _, path = _describe(Path(sys.executable))
    return path


def _candidate(executable: Path) -> GuestPython | str:
    """`executable` as the guest's Python, or why it cannot be."""
    try:
        version, suffix, stdlib = _describe(executable)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return f"{executable} does not run as a Python ({exc})"
    shown = ".".join(map(str, version))
    ours = str(sysconfig.get_config_var("EXT_SUFFIX"))
    if version[:2] != tuple(sys.version_info[:2]) or suffix != ours:
        return f"{executable} is Python {shown} ({suffix}), the venv's {_ours_shown()} ({ours})"
    # The interpreter's own folder too: on vng's root share, which has no page cache,
    # its code would be read from the host again and again.
    own = (executable.parent, *(Path(entry) for entry in stdlib if Path(entry).is_dir()))
    folders = (Path(sys.prefix), *own)
    python = GuestPython(executable, shown, stdlib, folders)
    if not _loads_venv_packages(executable, python.import_path(sys.path, host_stdlib())):
        return f"{executable} cannot import the venv's packages ({_CANARY})"
    return python


def _ours_shown() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def system_python() -> Path:
    """Where a distribution keeps its build of this Python version."""
    return Path(f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}")


def choose(environ: dict[str, str] | None = None, system: Path | None = None) -> GuestPython:
    """The guest's Python: ENV's choice, else the system's build when it differs from the
    venv's interpreter and can run the venv's packages, else the venv's."""
    chosen = (environ if environ is not None else os.environ).get(ENV, "")
    if chosen == VENV:
        return _ours()
    if chosen:
        found = _candidate(Path(chosen))
        if isinstance(found, str):
            raise UserError(f"{ENV}: {found}; name another, or {ENV}={VENV}")
        return found
    system = system or system_python()
    if not system.exists() or system.resolve() == Path(sys.executable).resolve():
        return _ours()
    found = _candidate(system)  # one that cannot serve leaves the venv's: still correct
    return _ours() if isinstance(found, str) else found
