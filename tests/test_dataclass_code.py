"""The dataclasses' generated code, compiled once and reused (fixtures/system/dataclass_code.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.system import dataclass_code
from fixtures.system.code_file import MAGIC
from fixtures.system.dataclass_code import install, load, save

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def codes() -> Iterator[dataclass_code._Codes]:
    """A fresh table in place of the module's, and dataclasses' own exec put back."""
    saved_table, saved_exec = dataclass_code._CODES, dataclasses.__dict__.get("exec")
    dataclass_code._CODES = dataclass_code._Codes()
    yield dataclass_code._CODES
    dataclass_code._CODES = saved_table
    if saved_exec is None:
        dataclasses.__dict__.pop("exec", None)
    else:
        dataclasses.exec = saved_exec  # type: ignore[attr-defined]


def _define() -> type:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0

    return Point


def test_a_recorded_text_is_reused_not_compiled_again(
    codes: dataclass_code._Codes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes.recording = True
    install(tmp_path / "none.bin")
    _define()
    assert len(codes.by_text) >= 5  # __init__, __repr__, __eq__, __setattr__, __delattr__ ...
    save(tmp_path / "codes.bin")

    dataclass_code._CODES = fresh = dataclass_code._Codes()
    assert install(tmp_path / "codes.bin") == len(codes.by_text)
    compiled: list[str] = []
    real_compile = compile
    monkeypatch.setattr(
        "builtins.compile", lambda *a, **k: compiled.append(a[0]) or real_compile(*a, **k)
    )
    point_class = _define()
    assert compiled == []  # every method came from the file
    point = point_class(1, 2)
    assert point == point_class(1, 2) and point != point_class(1, 3)
    assert repr(point).endswith("Point(x=1, y=2)") and hash(point) == hash(point_class(1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3  # type: ignore[misc]
    assert fresh.by_text


def test_an_unknown_text_is_compiled_as_before(
    codes: dataclass_code._Codes, tmp_path: Path
) -> None:
    install(tmp_path / "missing.bin")
    point = _define()(4)
    assert (point.x, point.y) == (4, 0)
    assert codes.by_text == {}  # not recording: nothing kept


@pytest.mark.parametrize(
    "content",
    [b"", b"not a marshal", MAGIC[:-1] + b"\x00" + b"{}", MAGIC + b"\xff\xfe"],
    ids=["empty", "garbage", "other-python", "truncated"],
)
def test_a_file_another_python_wrote_or_a_broken_one_is_ignored(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "codes.bin"
    path.write_bytes(content)
    assert load(path) == {}


def test_the_host_run_writes_the_file_the_guest_reads(tmp_path: Path) -> None:
    """`python -m fixtures.system.dataclass_code PYTEST_ARGS` records what a run compiled."""
    test = tmp_path / "test_one.py"
    test.write_text(
        "import dataclasses\n\n@dataclasses.dataclass\nclass Seen:\n    a: int\n\n"
        "def test_one():\n    assert Seen(1).a == 1\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fixtures.system.dataclass_code",
            f"--out={tmp_path / 'codes.bin'}",
            str(test),
            "-q",
            "-p",
            "no:cacheprovider",
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": str(REPO),
            "PATH": "/usr/bin:/bin",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    texts = load(tmp_path / "codes.bin")
    assert any("def __init__(self,a:_type_a)" in text for text in texts)
