"""The argument parser of every command line: a usage error is one line, like any other.

argparse answers a bad argument with its usage block and then `prog: error: ...`; the
suite's rule for bad input is one line naming the cause and the fix, exit status 2. So a
usage error here is only `prog: error: message (see --help)`; `--help` is argparse's own.

It lives in reports/ for the reason reports/errors.py does: reports may depend on nothing
else of the suite, while vm/ and fixtures/ import reports. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

USAGE_EXIT_STATUS = 2  # argparse's, and the suite's for a user error
# The console entry (mempolicy_conformance.py) calls vm's and reports' main() in its own
# process, started as one of these: installed, or run from the checkout.
CONSOLE = "mempolicy-conformance"
CONSOLE_SCRIPTS = {CONSOLE, "mempolicy_conformance.py"}


def at_least_one(unit: str) -> Callable[[str], int]:
    """An argparse `type` for a count of `unit` (runs, MiB...): a whole number, 1 or more."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"give a whole number of {unit}, 1 or more, not {text!r}"
            )
        return value

    return count


def started_as_console(process_argv: Sequence[str] | None = None) -> bool:
    """Whether this process is the console entry, whose words usage lines must use."""
    process_argv = sys.argv if process_argv is None else process_argv
    return bool(process_argv) and Path(process_argv[0]).name in CONSOLE_SCRIPTS


class OneLineParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose usage errors are one line; its subcommands' parsers
    are of this class too (add_subparsers makes them of the parser's own class)."""

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(message.split())  # argparse's messages are one line; keep it so
        self.exit(USAGE_EXIT_STATUS, f"{self.prog}: error: {one_line} (see --help)\n")
