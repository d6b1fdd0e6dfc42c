"""A usage error of every command line is one line, `prog: error: cause (see --help)`, with
exit status 2 (reports/arguments.py); argparse's own printed its usage block first."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import mempolicy_conformance
from fixtures.system import bench_probe
from fixtures.workloads import randmap
from reports import __main__ as reports_main
from reports.arguments import OneLineParser
from vm import __main__ as vm_main

REPO = Path(__file__).resolve().parent.parent
# The guest's entry point: the host writes its arguments, no user types them.
GUEST_ONLY = {"vm/guest_main.py"}

Main = Callable[[Sequence[str]], int]


@pytest.mark.parametrize(
    ("main", "argv", "line"),
    [
        (
            vm_main.main,
            ["run", "--repeat", "0"],
            "python -m vm run: error: argument --repeat: give a whole number of runs, "
            "1 or more, not '0' (see --help)",
        ),
        (
            vm_main.main,
            [],
            "python -m vm: error: the following arguments are required: command (see --help)",
        ),
        (
            vm_main.main,
            ["bench", "--timeout", "soon"],
            "python -m vm bench: error: argument --timeout: give a finite number of seconds "
            "above 0, not 'soon' (see --help)",
        ),
        (
            reports_main.main,
            ["table", "x.json", "--format", "pdf"],
            "python -m reports table: error: argument -f/--format: invalid choice: 'pdf' "
            "(choose from 'markdown', 'csv', 'html') (see --help)",
        ),
        (
            reports_main.main,
            ["speed", "x.json", "--bogus"],
            "python -m reports speed: error: unrecognized arguments: --bogus (see --help)",
        ),
        (
            mempolicy_conformance.main,
            ["run", "--append", "a b"],
            "mempolicy-conformance run: error: argument --append: give one kernel parameter "
            "without spaces (repeat --append for more), not 'a b' (see --help)",
        ),
        (
            randmap.main,
            [],
            "randmap.py: error: the following arguments are required: steps (see --help)",
        ),
        (
            bench_probe.main,
            ["--mib", "lots"],
            "bench_probe.py: error: argument --mib: give a whole number of MiB, 1 or more, "
            "not 'lots' (see --help)",
        ),
    ],
)
def test_a_usage_error_is_one_line(
    main: Main,
    argv: list[str],
    line: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The prog of a parser without one is taken from sys.argv[0], as `python -m` sets it.
    monkeypatch.setattr(sys, "argv", [str(Path(main.__code__.co_filename)), *argv])
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_the_command_without_a_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert mempolicy_conformance.main([]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "mempolicy-conformance: error: give a command: run, build, bench, report, gate (see --help)"
    ]


AS_TYPED = [
    (
        ["-m", "vm", "run", "--repeat", "0"],
        "python -m vm run: error: argument --repeat: give a whole number of runs, 1 or more, "
        "not '0'",
    ),
    (  # under the console entry, its words
        ["mempolicy_conformance.py", "run", "--repeat", "0"],
        "mempolicy-conformance run: error: argument --repeat: give a whole number of runs, "
        "1 or more, not '0'",
    ),
    (  # the bench's own options, checked before the (missing) kernel is looked for
        ["-m", "vm", "bench", "--no-install", "--kernel", "debian:2.4", "--", "--mib", "0"],
        "python -m vm bench --: error: argument --mib: give a whole number of MiB, 1 or "
        "more, not '0'",
    ),
]


@pytest.mark.parametrize(("argv", "line"), AS_TYPED)
def test_as_the_user_types_it(argv: list[str], line: str) -> None:
    finished = subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr == f"{line} (see --help)\n"


def test_a_message_is_kept_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        OneLineParser(prog="tool").error("two\nlines  and\tspaces")
    assert exited.value.code == 2
    assert capsys.readouterr().err == "tool: error: two lines and spaces (see --help)\n"


def test_help_is_argparses_own(capsys: pytest.CaptureFixture[str]) -> None:
    parser = OneLineParser(prog="tool", description="Does a thing.")
    parser.add_argument("--count", type=int, help="how many")
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: tool [-h] [--count COUNT]\n\nDoes a thing.\n")
    assert "--count COUNT  how many" in help_text


def _parser_classes(source: Path) -> list[tuple[int, str]]:
    """(line, class) of every parser made in `source`: a call of a name ending in Parser."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.endswith("ArgumentParser") or name.endswith("OneLineParser"):
                found.append((node.lineno, name))
    return found


def test_every_command_line_of_the_suite_uses_the_one_line_parser() -> None:
    """A new command line made with argparse.ArgumentParser would print its usage block."""
    sources = [REPO / "mempolicy_conformance.py"]
    for top in ("conformance", "fixtures", "reports", "vm"):
        sources += sorted((REPO / top).rglob("*.py"))
    plain = []
    made = 0
    for source in sources:
        relative = source.relative_to(REPO).as_posix()
        for line, name in _parser_classes(source):
            made += 1
            if name != "OneLineParser" and relative not in GUEST_ONLY:
                plain.append(f"{relative}:{line}: {name}")
    assert plain == []
    assert made >= 5  # vm, reports, randmap, bench_probe and the guest's: the scan works
