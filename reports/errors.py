"""Errors that say whose fault they are.

The command line prints one line for any of these and no traceback: a `UserError` is
fixed by changing the command or a file, an `InfraError` by fixing the machine.

They live in reports/ because `reports` may depend on nothing else of the suite while the
host side (vm/, through vm/errors.py) raises the same ones: both command lines print them
the same way.
"""


class SuiteError(Exception):
    """Base of the errors the command line reports as one line."""

    exit_status = 1


class UserError(SuiteError):
    """Bad input: an argument, a file or a preset the user gave."""

    exit_status = 2


class InfraError(SuiteError):
    """The machine or the guest failed: missing tools, a lost VM, a download that broke."""

    exit_status = 3
