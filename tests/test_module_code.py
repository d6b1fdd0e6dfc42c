"""The module snapshot: what it keeps, and that a Python given one imports from it (the
code as it was when saved), with the real files behind `__file__` and `__path__`."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.system import module_code

# In a fresh interpreter: import the package and its snapshot-held module, save them.
SAVE = """
import sys
from fixtures.system import module_code
import demo.held
print(module_code.save(__import__("pathlib").Path(sys.argv[1])))
"""
# In another: install the snapshot, import, and say where each thing came from.
USE = """
import json, sys
from fixtures.system import module_code
count = module_code.install(sys.argv[1])
import demo.held, demo.later
print(json.dumps({
    "installed": count,
    "held": demo.held.VALUE,
    "held_file": demo.held.__file__,
    "held_loader": type(demo.held.__loader__).__name__,
    "later": demo.later.VALUE,
    "later_loader": type(demo.later.__loader__).__name__,
    "package_path": list(demo.__path__),
}))
"""


def python(code: str, *args: str, cwd: Path) -> str:
    env = {"PYTHONPATH": f"{cwd}:{Path(__file__).resolve().parent.parent}"}
    finished = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip().splitlines()[-1]


def test_it_keeps_source_modules_by_their_own_name_only() -> None:
    import _cffi_backend  # an extension module

    table = module_code.snapshot({**sys.modules, "an.alias": module_code})
    assert "json" in table or "pathlib" in table  # plain source modules
    origin, is_package, _ = table["fixtures.system.module_code"]
    assert origin == module_code.__file__ and not is_package
    assert table["fixtures"][1] is True  # a package
    assert "an.alias" not in table  # kept under its own name only
    assert _cffi_backend.__name__ not in table and "sys" not in table and "os" not in table


def test_a_python_given_the_snapshot_runs_the_saved_code_from_the_real_files(
    tmp_path: Path,
) -> None:
    package = tmp_path / "demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "held.py").write_text("VALUE = 'as saved'\n")
    (package / "later.py").write_text("VALUE = 'from the folder'\n")
    snapshot = tmp_path / "modules.bin"
    assert int(python(SAVE, str(snapshot), cwd=tmp_path)) > 10
    # Changed after the snapshot: the snapshot's Python must still run the saved code.
    (package / "held.py").write_text(textwrap.dedent("VALUE = 'edited'\n"))
    report = json.loads(python(USE, str(snapshot), cwd=tmp_path))
    assert report["installed"] > 10
    assert report["held"] == "as saved" and report["held_loader"] == "_Loader"
    assert report["held_file"] == str(package / "held.py")
    assert report["later"] == "from the folder"  # not in the snapshot: found in __path__
    assert report["later_loader"] == "SourceFileLoader"
    assert report["package_path"] == [str(package)]


def test_without_a_readable_snapshot_nothing_is_installed(tmp_path: Path) -> None:
    garbled = tmp_path / "other-python.bin"
    garbled.write_bytes(b"\x00\x01not a snapshot")
    before = list(sys.meta_path)
    assert module_code.install(str(garbled)) == 0
    assert module_code.install(str(tmp_path / "missing.bin")) == 0
    assert sys.meta_path == before
