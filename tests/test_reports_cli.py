"""`python -m reports`: output, -o, and one-line errors with the right exit status."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.__main__ import main
from reports.results import load
from reports.table import markdown_report
from vm.errors import UserError

CHECKOUT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "data" / "results"
RUN_FILES = [
    RESULTS / "debian-6.1.0-56-default.json",
    RESULTS / "debian-6.12.57-default.json",
]


def run_reports(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """The command exactly as a user types it, from the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "reports", *map(str, arguments)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_table_prints_markdown_to_stdout() -> None:
    finished = run_reports("table", *RUN_FILES)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    assert finished.stdout == markdown_report([load(path) for path in RUN_FILES])
    assert "| 6.1.0-56-amd64 · default " in finished.stdout
    assert "expected `N2=256`, observed `N0=200 N2=56`" in finished.stdout


@pytest.mark.parametrize("command", [["table", RUN_FILES[0]], ["speed"]])
def test_missing_file_is_one_line_and_non_zero(tmp_path: Path, command: list[str | Path]) -> None:
    missing = tmp_path / "no-such-run.json"
    finished = run_reports(*command, missing)
    assert finished.returncode == 2  # UserError: the command was wrong, not the machine
    assert finished.stdout == ""
    assert finished.stderr == f"reports: error: {missing}: no such result file\n"


def test_unknown_schema_is_one_line_and_non_zero(tmp_path: Path) -> None:
    document = json.loads(RUN_FILES[0].read_text(encoding="utf-8"))
    document["schema"] = 7
    future = tmp_path / "future.json"
    future.write_text(json.dumps(document), encoding="utf-8")
    finished = run_reports("table", future)
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        f"reports: error: {future}: result schema version 7 is not supported"
        " (this reader supports version 1)"
    ]
    assert "Traceback" not in finished.stderr


def test_output_option_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "compat.md"
    assert main(["table", *map(str, RUN_FILES), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    written = out.read_text(encoding="utf-8")
    assert written == markdown_report([load(path) for path in RUN_FILES])
    assert written.startswith("## Compatibility\n")


def test_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no-such-dir" / "compat.md"
    assert main(["table", str(RUN_FILES[0]), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"reports: error: {out}: cannot write: No such file or directory\n"
    )


def test_table_needs_at_least_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["table"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "python -m reports table: error: the following arguments are required: FILE (see --help)\n"
    )


def test_gzipped_documents_are_read_like_plain_ones(tmp_path: Path) -> None:
    plain = RUN_FILES[0]
    packed = tmp_path / (plain.name + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert load(packed).cases == load(plain).cases
    assert main(["table", str(tmp_path)]) == 0  # a folder holding only .json.gz documents
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(UserError, match="named .gz but not gzip data"):
        load(broken)


# `python -m reports` in a Python without tabulate: sys.modules["tabulate"] = None makes
# its import fail exactly as an uninstalled module does.
WITHOUT_TABULATE = (
    "import runpy, sys; sys.modules['tabulate'] = None; "
    "runpy.run_module('reports', run_name='__main__', alter_sys=True)"
)


@pytest.mark.parametrize("command", [["table", str(RUN_FILES[0])], ["gate", *map(str, RUN_FILES)]])
def test_without_tabulate_one_line_says_what_to_install(command: list[str]) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", WITHOUT_TABULATE, *command],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        "reports: error: tabulate is not installed: pip install tabulate"
        " (or `pip install .` in the checkout, for everything the suite needs)"
    ]


def test_help_needs_no_tabulate() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", WITHOUT_TABULATE, "--help"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0 and "gate" in finished.stdout, finished.stderr


def test_gate_of_several_current_documents_says_it_takes_one(tmp_path: Path) -> None:
    # What `gate baseline.json results/*.json` becomes when the glob matches two runs.
    finished = run_reports("gate", *RUN_FILES, RUN_FILES[0])
    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr.splitlines() == [
        "python -m reports gate: error: takes one baseline and one current document, not 2"
        f" current ones (also {RUN_FILES[0]}): gate each run on its own (see --help)"
    ]


@pytest.mark.parametrize(
    ("command", "usage", "error"),
    [
        (["gate", *RUN_FILES, RUN_FILES[0]], "mempolicy-conformance gate", "takes one baseline"),
        (["report", RUN_FILES[0], "--bogus"], "mempolicy-conformance report", "unrecognized"),
    ],
)
def test_usage_errors_name_the_command_as_the_console_entry_calls_it(
    command: list[str | Path], usage: str, error: str
) -> None:
    finished = subprocess.run(
        [sys.executable, "mempolicy_conformance.py", *map(str, command)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 2
    (line,) = finished.stderr.splitlines()
    assert line.startswith(f"{usage}: error: {error}") and line.endswith(" (see --help)")


def test_an_unknown_option_is_blamed_on_the_command_that_got_it() -> None:
    finished = run_reports("speed", RUN_FILES[0], "--bogus")
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        "python -m reports speed: error: unrecognized arguments: --bogus (see --help)"
    ]
