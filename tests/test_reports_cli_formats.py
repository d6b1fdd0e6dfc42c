"""`python -m reports table --format markdown|csv|html [-o OUT]`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reports.__main__ import main
from reports.csv_export import csv_report
from reports.html import html_report
from reports.results import load
from reports.table import markdown_report

CHECKOUT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "data" / "results"
RUN_FILES = [
    RESULTS / "debian-6.1.0-56-default.json",
    RESULTS / "private-v5-6.19-rc4-private.json",
]


def test_csv_goes_to_stdout() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reports", "table", "--format", "csv", *map(str, RUN_FILES)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == csv_report([load(path) for path in RUN_FILES])
    assert finished.stdout.startswith("case,area,run,kernel_release,")


def test_html_goes_to_the_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "compat.html"
    assert main(["table", "-f", "html", *map(str, RUN_FILES), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.read_text(encoding="utf-8") == html_report([load(path) for path in RUN_FILES])


def test_markdown_stays_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", str(RESULTS)]) == 0  # a folder stands for its documents
    documents = sorted(RESULTS.glob("*.json"))
    assert capsys.readouterr().out == markdown_report([load(path) for path in documents])


def test_unknown_format_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["table", "--format", "pdf", str(RUN_FILES[0])])
    assert exited.value.code == 2
    assert "argument -f/--format: invalid choice: 'pdf' (choose from" in capsys.readouterr().err
