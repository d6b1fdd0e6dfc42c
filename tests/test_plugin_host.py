"""What the plugin does so that a run on bare metal leaves the machine as it found it, on a
tiny project of its own (pytester, each run in a pytest subprocess)."""

import pytest

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
