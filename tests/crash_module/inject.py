"""A pytest plugin that crashes the guest kernel during one case, on purpose.

Loaded only by `capture.sh` and tests/test_vm_continuation.py (never by the suite): with
`-p tests.crash_module.inject`, the first case whose id contains --crash-case loads
crashme.ko with --crash-action while the case runs, so the suite's own attribution must
pin the kernel's oops, WARN or panic on that case; `sysrq-c` needs no module: SysRq's
crash command panics the kernel. The console and result documents of the crashme runs
are the fixtures under tests/data/console and tests/data/results.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

MODULE = Path(__file__).with_name("crashme.ko")
SYSRQ_CRASH = "sysrq-c"
SYSRQ_TRIGGER = Path("/proc/sysrq-trigger")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crash injection (fixture capture only)")
    group.addoption("--crash-case", default=None, help="crash during the first case id with this")
    group.addoption(
        "--crash-action", default="oops", choices=("oops", "warn", "panic", SYSRQ_CRASH)
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    wanted = item.config.getoption("--crash-case")
    if wanted and wanted in item.nodeid and not item.config.stash.get(_DONE, False):
        item.config.stash[_DONE] = True
        action = item.config.getoption("--crash-action")
        if action == SYSRQ_CRASH:
            SYSRQ_TRIGGER.write_text("c\n")  # the kernel panics here; nothing returns
        # An oops kills insmod, not pytest: the case goes on and the log tells on it.
        subprocess.run(["insmod", str(MODULE), f"action={action}"], check=False)
    yield


_DONE = pytest.StashKey[bool]()
