"""The suite's errors, for the host side: they live in reports/errors.py, where `reports`
(which depends on nothing of the suite) can raise them too; vm's modules import them here.
"""

from reports.errors import InfraError, SuiteError, UserError

__all__ = ["InfraError", "SuiteError", "UserError"]
