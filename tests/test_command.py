"""The `mempolicy-conformance` command (mempolicy_conformance.py): each subcommand reaches
the checkout's own tool, and a command without a checkout says so in one line.

In-process, on the example result documents; `pip install .` into a fresh venv takes
6 to 10 s and needs the network for its build requirements, so only the piece it adds,
setup.py recording the checkout, is run here (offline, about a second).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mempolicy_conformance as command

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "reports" / "example" / "results"
RUN = EXAMPLE / "6.12.117_deb12-amd64--default--mainline.json.gz"


def test_no_command_is_one_line_and_help_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main([]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("mempolicy-conformance: error: give a command: run, build, bench")
    assert command.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in command.COMMANDS:
        assert f"\n  {name} " in out


def test_an_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["tabel"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mempolicy-conformance: error: unknown command 'tabel': "
        "choose run, build, bench, report, gate"
    ]


def test_report_is_the_table_of_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["report", str(RUN), "-f", "csv"]) == 0
    assert capsys.readouterr().out.startswith("case,")


def test_gate_is_the_gate_of_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "gate.md"
    assert command.main(["gate", str(RUN), str(RUN), "--summary", str(summary)]) == 0
    assert summary.read_text()


@pytest.mark.parametrize("name", ["run", "build", "bench"])
def test_run_build_and_bench_are_the_vm_commands(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        command.main([name, "--help"])
    assert exit_.value.code == 0
    assert f"python -m vm {name}" in capsys.readouterr().out


def test_the_checkout_is_found_in_order(tmp_path: Path) -> None:
    assert command.checkout({}) == REPO  # the folder the module is in
    assert command.checkout({command.ENV: str(REPO)}) == REPO
    with pytest.raises(command.CheckoutError, match="is not a checkout"):
        command.checkout({command.ENV: str(tmp_path)})


def _installed_copy(site: Path, recorded: Path | None) -> ModuleType:
    """The module as `pip install .` leaves it: in site-packages, away from the checkout."""
    shutil.copy(REPO / "mempolicy_conformance.py", site / "mempolicy_conformance_copy.py")
    if recorded is not None:
        (site / "mempolicy_conformance_checkout.py").write_text(f"CHECKOUT = {str(recorded)!r}\n")
    spec = importlib.util.spec_from_file_location(
        "mempolicy_conformance_copy", site / "mempolicy_conformance_copy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_installed_command_runs_the_recorded_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mempolicy_conformance_checkout", raising=False)
    assert _installed_copy(tmp_path, REPO).checkout({}) == REPO


def test_a_recorded_checkout_that_is_gone_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mempolicy_conformance_checkout", raising=False)
    monkeypatch.delenv(command.ENV, raising=False)
    installed = _installed_copy(tmp_path, tmp_path / "gone")
    assert installed.main(["report", str(RUN)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "gone" in line and "pip install ." in line


def test_setup_py_records_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (tmp_path / "mempolicy_conformance.py").is_file()
    recorded = (tmp_path / "mempolicy_conformance_checkout.py").read_text()
    assert f"CHECKOUT = {str(REPO)!r}" in recorded


@pytest.mark.skipif(
    shutil.which("mempolicy-conformance") is None, reason="not installed (tox installs it)"
)
def test_the_installed_command_reaches_this_checkout(tmp_path: Path) -> None:
    finished = subprocess.run(
        ["mempolicy-conformance", "report", str(RUN), "-f", "csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("case,")
