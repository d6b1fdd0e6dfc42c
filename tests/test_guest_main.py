"""The guest's pytest command line: the plugins it blocks are never imported, and the
modules it makes unimportable leave pytest and hashlib working."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.knobs import DISCARDED_AFTER_RUN_ENV
from vm import guest_main
from vm.guest_entry import extend_path
from vm.guest_main import (
    GUEST_ONLY_BLOCKED_PLUGINS,
    blocked_plugins,
    pytest_args,
)

REPO = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter, as the guest's pytest child does: block, import, collect.
SESSION = """
import json, sys
from vm.guest_main import block_unused_modules, blocked_plugins
block_unused_modules()
import pytest
status = pytest.main([*blocked_plugins(), "--collect-only", "-q", sys.argv[1]])
import hashlib
digest = hashlib.sha256(b"mempolicy").hexdigest()[:8]
watched = ("unittest", "pdb", "xml.etree.ElementTree", "readline", "_hashlib")
print(json.dumps({"status": int(status), "digest": digest,
                  "imported": [m for m in watched if sys.modules.get(m) is not None]}))
"""


def test_the_ini_s_disabled_plugins_and_the_guest_s_come_first_on_the_command_line() -> None:
    args = pytest_args(Path("/run"), 1, ["-m", "errors"])
    blocked = args[: args.index("conformance")]
    ini_words = (REPO / "conformance" / "pytest.ini").read_text().split()
    ini_blocked = [w.removeprefix("no:") for w in ini_words if w.startswith("no:")]
    assert ini_blocked, "the ini turns no plugin off any more: this test checks nothing"
    assert blocked == blocked_plugins()
    assert {b.removeprefix("-pno:") for b in blocked} == {*ini_blocked, *GUEST_ONLY_BLOCKED_PLUGINS}
    assert not any(a.startswith("--junitxml") for a in args)  # the host writes junit.xml
    assert args[-2:] == ["-m", "errors"]
    # No port named for it here (vm/result_port.py): the stream goes to the run folder.
    assert "--ktap=/run/results.ktap" in args


def test_blocked_plugins_and_modules_are_never_imported_and_pytest_still_runs(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    finished = subprocess.run(
        [sys.executable, "-c", SESSION, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"},
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    assert report["status"] == 0  # collected the one test
    assert report["digest"] == "bc07610c"  # sha256 from hashlib's built-in fallback
    assert report["imported"] == []


def test_extend_path_appends_what_is_missing_in_order() -> None:
    before = list(sys.path)
    try:
        extend_path(os.pathsep.join(["/nowhere/b", before[-1], "", "/nowhere/a"]))
        assert sys.path == [*before, "/nowhere/b", "/nowhere/a"]
    finally:
        sys.path[:] = before


def test_a_python_without_site_imports_pytest_and_cffi_from_the_host_s_path() -> None:
    """What the guest's `python -S -m vm.guest_entry` relies on: the host's sys.path stands
    in for what site adds (the venv's site-packages)."""
    host_path = os.pathsep.join(p for p in sys.path if p)
    code = (
        "import sys; from vm.guest_entry import extend_path; extend_path(sys.argv[1]);"
        "import pytest, _cffi_backend; print(sys.flags.no_site, pytest.__file__)"
    )
    finished = subprocess.run(
        [sys.executable, "-S", "-c", code, host_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    no_site, pytest_file = finished.stdout.split()
    assert no_site == "1" and pytest_file == pytest.__file__


def test_the_guest_s_session_knows_its_machine_is_thrown_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What _session changes in this process is put back by monkeypatch afterwards.
    monkeypatch.setenv(DISCARDED_AFTER_RUN_ENV, "0")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "0")
    monkeypatch.setattr(guest_main, "block_unused_modules", lambda: None)
    seen: list[str | None] = []

    def main(args: list[str], plugins: list[object]) -> int:
        seen.append(os.environ.get(DISCARDED_AFTER_RUN_ENV))
        return 0

    monkeypatch.setattr(pytest, "main", main)
    assert guest_main._session(["--version"], []) == 0
    assert seen == ["1"]
