"""What the plugin does so that a run on bare metal leaves the machine as it found it, on a
tiny project of its own (pytester, each run in a pytest subprocess)."""

import os

import pytest

from fixtures.knobs import DISCARDED_AFTER_RUN_ENV
from vm.runner import REPO_ROOT

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the plugin runs from the checkout
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    return pytester


@pytest.mark.parametrize(("options", "keep"), [((), True), (("--topology-preset=default",), False)])
def test_only_a_guest_may_make_changes_that_outlive_the_run(
    project: pytest.Pytester, options: tuple[str, ...], keep: bool
) -> None:
    project.makepyfile(
        test_keep=f"""
from fixtures.knobs.base import InterleaveWeights

def test_keep_host():
    assert InterleaveWeights.keep_host is {keep}
"""
    )
    project.runpytest_subprocess(*options).assert_outcomes(passed=1)


TERMINATED = """
import os
import signal
import time

import pytest

from fixtures.system.child import run_in_child

@pytest.fixture(scope="module")
def knob():
    yield
    open("restored", "w").write("yes")

def test_a_forked_child_still_dies_of_it():
    outcome = run_in_child(lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert outcome.signal == "SIGTERM"

def test_terminated_while_holding_a_knob(knob):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
"""


def test_sigterm_unwinds_like_ctrl_c(project: pytest.Pytester) -> None:
    """A cancelled CI job gets SIGTERM, which ends Python without unwinding by default."""
    project.makepyfile(test_term=TERMINATED)
    result = project.runpytest_subprocess(timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    assert (project.path / "restored").read_text() == "yes"
    result.stdout.fnmatch_lines(["*Terminated: SIGTERM*", "*1 passed*"])


KEEPER = """
import fixtures.plugin.knobs as knobs

class RecordingCgroups:
    def __init__(self, prefix):
        self.prefix = prefix

    def create(self, nodes):
        open("created", "w").write(self.prefix)

    def close(self):
        open("removed", "w").write(self.prefix)

knobs.CpusetCgroups = RecordingCgroups
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the keeper cgroup is made as root only")
@pytest.mark.parametrize(("discarded", "removed"), [("", True), ("1", False)])
def test_the_cpuset_keeper_outlives_the_session_only_in_a_discarded_guest(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, discarded: str, removed: bool
) -> None:
    """Removing the keeper switches the kernel's cpuset key once more at the session's end:
    the suite's own guest (which sets DISCARDED_AFTER_RUN_ENV) leaves it in place."""
    monkeypatch.setenv(DISCARDED_AFTER_RUN_ENV, discarded)
    project.makeconftest(KEEPER)
    project.makepyfile(test_one="def test_one():\n    pass\n")
    project.runpytest_subprocess("--topology-preset=default").assert_outcomes(passed=1)
    assert (project.path / "created").read_text() == "mempolicy-conformance-keeper"
    assert (project.path / "removed").exists() is removed
