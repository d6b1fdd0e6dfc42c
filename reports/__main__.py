"""Command line: `python -m reports table [--format markdown|csv|html] FILE... [-o OUT]`
`python -m reports gate BASELINE CURRENT [--summary OUT.md] [--junit OUT.xml]` and
`python -m reports speed FILE` (how fast one run went, per area) and
`python -m reports junit FILE [-o OUT]` (JUnit XML of one run).

Errors the suite knows (reports.errors.SuiteError) come out as one line on stderr and the error's
exit status, never as a traceback; so does a missing third-party module (exit status 2): the
report modules are imported only once the arguments are read, so that --help and the error
work in a bare Python.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reports.arguments import CONSOLE, OneLineParser, started_as_console
from reports.errors import SuiteError, UserError
from reports.results import RunDocument, load

PROG = "reports"  # what the one-line errors start with
MODULE_PROG = "python -m reports"  # how usage lines name the command
COMMANDS = ("table", "gate", "speed", "junit")

# The third-party modules the reports import, and what installs each one.
REQUIREMENTS = {"tabulate": "pip install tabulate"}

FORMAT_NAMES = ("markdown", "csv", "html")


def _formats() -> dict[str, Callable[[Sequence[RunDocument]], str]]:
    """--format name -> the function that turns the runs into that text."""
    from reports.csv_export import csv_report
    from reports.html import html_report
    from reports.table import markdown_report

    return {"markdown": markdown_report, "csv": csv_report, "html": html_report}


def usage_names(argv: Sequence[str], process_argv: Sequence[str]) -> dict[str, str]:
    """Each command -> how the user typed it, for its usage lines: `python -m reports gate`,
    or under the console entry its own words (`mempolicy-conformance report` runs `table`)."""
    names = {command: f"{MODULE_PROG} {command}" for command in COMMANDS}
    # The console entry calls main() with our command's name first (`report` runs `table`).
    if argv and len(process_argv) > 1 and started_as_console(process_argv):
        names[argv[0]] = f"{CONSOLE} {process_argv[1]}"
    return names


def _parser(
    names: Mapping[str, str],
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each command's own (for errors only that command's usage explains)."""
    parser = OneLineParser(
        prog=MODULE_PROG, description="Turn result documents (reports/SCHEMA.md) into reports."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table = commands.add_parser(
        "table",
        prog=names["table"],
        help="compatibility table of one or more runs, with the failures explained",
        description=(
            "A summary by feature, one row per case and one column per run, then why each"
            " failure failed. Markdown for people and pull requests, CSV for scripts and"
            " spreadsheets, HTML for one self-contained page (opens offline, prints)."
        ),
    )
    table.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="result document, or a folder of them"
    )
    table.add_argument(
        "-f",
        "--format",
        choices=FORMAT_NAMES,
        default="markdown",
        help="what to write (default: markdown)",
    )
    table.add_argument(
        "-o", "--output", type=Path, metavar="OUT", help="write the report here, not stdout"
    )
    gate = commands.add_parser(
        "gate",
        prog=names["gate"],
        help="fail when a case that passed in the baseline fails or is missing now",
        description=(
            "Compare a run with a baseline run of the same topology: exit status 1 with one"
            " line per reason when the run did not finish or ran no case, when a case that"
            " passed in the baseline fails or errors now (expected and observed) or did not"
            " run; gains, new cases and absent ones that had not passed are listed."
        ),
    )
    gate.add_argument("baseline", type=Path, help="the baseline result document")
    gate.add_argument("current", type=Path, help="the result document of this run (one)")
    gate.add_argument("--summary", type=Path, help="also write the Markdown summary here")
    gate.add_argument("--junit", type=Path, help="also write JUnit XML here")
    speed = commands.add_parser(
        "speed",
        prog=names["speed"],
        help="benchmark table of one run: per area cases, seconds, cases/s; outside cases; boot",
    )
    speed.add_argument("file", type=Path, metavar="FILE", help="the result document of one run")
    junit = commands.add_parser(
        "junit",
        prog=names["junit"],
        help="JUnit XML of one run: fail a failure, error an error, skip and unsupported skipped",
    )
    junit.add_argument("file", type=Path, metavar="FILE", help="the result document of one run")
    junit.add_argument(
        "-o", "--output", type=Path, metavar="OUT", help="write the XML here, not stdout"
    )
    return parser, {"table": table, "gate": gate, "speed": speed, "junit": junit}


def _unrecognized(command: str, extra: Sequence[str]) -> str:
    if command == "gate" and not any(word.startswith("-") for word in extra):
        # Most likely a glob (results/*.json) that matched more than one run.
        return (
            f"takes one baseline and one current document, not {len(extra) + 1} current"
            f" ones (also {' '.join(extra)}): gate each run on its own"
        )
    return f"unrecognized arguments: {' '.join(extra)}"


def _write(output: Path, text: str) -> None:
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"{output}: cannot write: {error.strerror}") from None


def _gate(arguments: argparse.Namespace) -> int:
    from reports.gate import compare, failure_lines
    from reports.gate import junit as gate_junit
    from reports.gate import markdown as gate_markdown

    result = compare(load(arguments.baseline), load(arguments.current))
    summary = gate_markdown(result)
    sys.stdout.write(summary)
    if arguments.summary:
        _write(arguments.summary, summary)
    if arguments.junit:
        _write(arguments.junit, gate_junit(result))
    for line in failure_lines(result):
        print(line, file=sys.stderr)
    return 0 if result.passed else 1


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for the *.json (or *.json.gz) documents in it, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.json"), *path.glob("*.json.gz")])
            if not found:
                raise UserError(f"{path}: no result documents (*.json) in this folder")
            files += found
        else:
            files.append(path)
    return files


def _table(files: Sequence[Path], report_format: str, output: Path | None) -> None:
    _emit(_formats()[report_format]([load(file) for file in expand(files)]), output)


def _emit(text: str, output: Path | None) -> None:
    """The text on stdout, or into `output`."""
    if output is None:
        sys.stdout.write(text)
        return
    _write(output, text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, commands = _parser(usage_names(argv, sys.argv))
    arguments, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame the top level ("usage: ... COMMAND ..."), not the command
        commands[arguments.command].error(_unrecognized(arguments.command, extra))
    try:
        if arguments.command == "gate":
            return _gate(arguments)
        if arguments.command == "speed":
            from reports.speed import speed_table

            sys.stdout.write(speed_table(load(arguments.file)))
            return 0
        if arguments.command == "junit":
            from reports.junit import run_junit

            _emit(run_junit(load(arguments.file)), arguments.output)
            return 0
        _table(arguments.files, arguments.format, arguments.output)
    except SuiteError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_status
    except ModuleNotFoundError as error:
        if error.name not in REQUIREMENTS:
            raise  # a module of the suite itself: a bug, not the environment
        print(
            f"{PROG}: error: {error.name} is not installed: {REQUIREMENTS[error.name]}"
            " (or `pip install .` in the checkout, for everything the suite needs)",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
