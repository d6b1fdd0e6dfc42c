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
from fixtures.knobs import InterleaveWeights

def test_keep_host():
    assert InterleaveWeights.keep_host is {keep}
"""
    )
    project.runpytest_subprocess(*options).assert_outcomes(passed=1)
