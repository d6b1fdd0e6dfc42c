"""End to end: a kernel that panics in one case costs that case, not the rest of the run.

Debian's 6.1 kernel, the `default` topology, the readback area; SysRq's crash command
panics the guest during its third case (tests/crash_module/inject.py). The host must
boot again for the cases the dead guest never reached, and the one document must hold
every case: the crashed one an `error` with the kernel's words, the others their
verdicts. Marked `vm`: two TCG boots.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import vm_run

pytestmark = pytest.mark.vm

CRASHED = "readback-mbind-bind-node2"


@pytest.fixture(scope="module")
def crashed_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return vm_run(
        tmp_path_factory.mktemp("results"),
        *("--kernel", "debian:6.1", "--topology", "default", "--"),
        *("-m", "readback", "-p", "tests.crash_module.inject"),
        *("--crash-case", "test_readback[mbind-bind-node2]", "--crash-action", "sysrq-c"),
    )


def test_the_crashed_case_is_an_error_with_the_kernels_words(
    crashed_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    finished, document = crashed_run
    assert finished.returncode == 1  # a run that crashed is never a green one
    errors = {c["id"]: c for c in document["cases"] if c["verdict"] == "error"}
    assert list(errors) == [CRASHED]
    assert "sysrq triggered crash" in errors[CRASHED]["message"]
    assert document["run"]["status"] == "crashed"


def test_every_planned_case_has_its_verdict(
    crashed_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, document = crashed_run
    planned = (Path(document["run"]["run_dir"]) / "planned_cases").read_text().split()
    ids = [c["id"] for c in document["cases"]]
    assert len(planned) >= 10 and ids.index(CRASHED) == 2
    assert sorted(ids) == sorted(planned)  # each once, none lost, none run twice
    verdicts = {c["id"]: c["verdict"] for c in document["cases"] if c["id"] != CRASHED}
    assert set(verdicts.values()) == {"pass"}


def test_the_next_boot_ran_only_what_was_left(
    crashed_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, document = crashed_run
    (continued,) = document["run"]["continued_after_crash"]
    assert continued["status"] == "ok" and continued["console_findings"] == []
    listed = (Path(continued["run_dir"]) / "only_cases").read_text().split()
    after = [c["id"] for c in document["cases"]][3:]
    assert listed == after
