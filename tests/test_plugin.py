"""The plugin's verdicts on a tiny conformance project of its own (pytester): pass, fail,
error, unsupported, skip, the per-case timeout, and the result document and KTAP it writes."""

import json

import pytest

from vm.runner import REPO_ROOT

pytest_plugins = ["pytester"]

CASES = """
import time
import pytest
from fixtures.plugin.verdicts import unsupported

class Case:
    def __init__(self, name): self.id = name
    def params(self): return {"name": self.id}

# Case ids are unique per module: each function's matrix names its own cases.
MATRIX = {
    "p": lambda topology: [Case("pass-one"), Case("pass-two")],
    "f": lambda topology: [Case("fail-one"), Case("fail-two")],
    "e": lambda topology: [Case("error-one"), Case("error-two")],
}

def test_pass(p, case):
    case.expected = {"pages": {"0": 1}}
    case.observed = {"pages": {"0": 1}}

def test_fail(f):
    assert f.id == "fail-one", "pages per node {0: 1}, expected {1: 1}"

def test_error(e):
    if e.id == "error-two":
        raise RuntimeError("probe disagreement")

def test_unsupported():
    unsupported("MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9")

def test_skip():
    pytest.skip("needs 4 memory nodes")

def test_slow():
    time.sleep(5)

@pytest.mark.min_kernel("99.0")
def test_future():
    pass

@pytest.mark.min_kernel("2.6")
def test_past():
    pass
"""


Run = tuple[dict[str, dict[str, object]], str, list[str]]


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The cases of the document, the KTAP stream, the planned order of the cases."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the plugin runs from the checkout
    pytester.makepyfile(test_area=CASES)
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    result_json = pytester.path / "result.json"
    ktap = pytester.path / "results.ktap"
    pytester.runpytest_subprocess(
        f"--result-json={result_json}", f"--ktap={ktap}", "--case-timeout=1"
    )
    document = json.loads(result_json.read_text())
    planned = (pytester.path / "planned_cases").read_text().splitlines()
    return {c["id"]: c for c in document["cases"]}, ktap.read_text(), planned


def test_verdicts_document_and_ktap(run: Run) -> None:
    cases, ktap, planned = run
    verdicts = {cid: c["verdict"] for cid, c in cases.items()}
    assert verdicts == {
        "area-pass-one": "pass",
        "area-pass-two": "pass",
        "area-fail-one": "pass",
        "area-fail-two": "fail",
        "area-error-one": "pass",
        "area-error-two": "error",
        "area-unsupported": "unsupported",
        "area-skip": "skip",
        "area-slow": "error",
        "area-future": "skip",
        "area-past": "pass",
    }
    assert str(cases["area-future"]["message"]).startswith("needs Linux 99.0, this kernel is ")
    assert cases["area-unsupported"]["message"] == "MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9"
    assert "--case-timeout=1" in str(cases["area-slow"]["message"])
    assert cases["area-pass-one"]["observed"] == {"pages": {"0": 1}}
    assert "expected {1: 1}" in str(cases["area-fail-two"]["message"])
    assert "RuntimeError: probe disagreement" in str(cases["area-error-two"]["message"])
    # The same run's KTAP stream: one result line per case, in the document's order.
    lines = ktap.splitlines()
    assert lines[:2] == ["KTAP version 1", f"1..{len(cases)}"]
    results = [line for line in lines if line.startswith(("ok ", "not ok "))]
    assert len(results) == len(cases)
    # The planned order (what a dead guest's run is salvaged by) is the order they ran in.
    assert planned == [line.removeprefix("not ").split()[2] for line in results]
    assert (
        "ok 7 area-unsupported # SKIP unsupported: MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9"
        in lines
    )


@pytest.fixture
def two_areas(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project of two areas under the plugin: alpha-one, alpha-two and beta-three."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(
        test_alpha="def test_one():\n    pass\n\ndef test_two():\n    pass\n",
        test_beta="def test_three():\n    pass\n",
    )
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    return pytester


def test_area_markers_select_cases(two_areas: pytest.Pytester) -> None:
    pytester = two_areas
    outcome = pytester.runpytest_subprocess("-m", "beta", "--strict-markers")
    outcome.assert_outcomes(passed=1, deselected=2)
    outcome = pytester.runpytest_subprocess("-m", "alpha and not beta", "-W", "error")
    outcome.assert_outcomes(passed=2, deselected=1)


def test_only_the_listed_cases_run(two_areas: pytest.Pytester) -> None:
    """--only-cases: what the host's next boot after a crash is given, case ids a line."""
    pytester = two_areas
    listed = pytester.path / "only_cases"
    listed.write_text("alpha-two\nbeta-three\n")
    outcome = pytester.runpytest_subprocess(f"--only-cases={listed}", "-v")
    outcome.assert_outcomes(passed=2, deselected=1)
    assert "test_alpha.py::test_one" not in outcome.stdout.str()
    outcome = pytester.runpytest_subprocess(f"--only-cases={listed}", "-m", "alpha")
    outcome.assert_outcomes(passed=1, deselected=2)  # and -m still narrows


def test_fixtures_every_case_uses_name_no_request() -> None:
    """pytest 9 builds a FixtureDef, and inspects a signature, each time a case uses a
    fixture that names `request`: the fixtures in every case's closure do without it."""
    import inspect

    from fixtures.plugin import knobs, session, verdicts

    every_case = (
        session.topology,
        session.profile,
        session.kernel_release,
        verdicts.case,
        knobs.steady_cpuset_key,
    )
    for fixture in every_case:
        function = fixture.__wrapped__  # type: ignore[attr-defined]
        assert "request" not in inspect.signature(function).parameters, function.__name__


EXITING = """
import os
import signal
from pathlib import Path
from fixtures.system import child
from fixtures.system.child import Child, run_in_child

PIDS = []

def test_left_to_exit():
    outcome = run_in_child(os.getpid, exit_while_judged=True)
    PIDS.append(outcome.unwrap())

def test_reaped_by_the_previous_teardown():
    assert not Path(f"/proc/{PIDS[0]}").exists()

def test_killed_after_it_reported():
    def steps():
        yield os.getpid()

    held = Child(steps, hold=True)
    pid = held.receive(timeout_s=10).unwrap()
    child._EXITING.append(held)
    os.kill(pid, signal.SIGKILL)
"""


def test_a_child_left_to_exit_ends_within_its_case(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case's teardown reaps what it left exiting; a child killed after its report
    makes the case an error."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(test_exiting=EXITING)
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    result_json = pytester.path / "result.json"
    pytester.runpytest_subprocess(f"--result-json={result_json}")
    cases = {c["id"]: c for c in json.loads(result_json.read_text())["cases"]}
    assert {cid: c["verdict"] for cid, c in cases.items()} == {
        "exiting-left_to_exit": "pass",
        "exiting-reaped_by_the_previous_teardown": "pass",
        "exiting-killed_after_it_reported": "error",
    }
    message = str(cases["exiting-killed_after_it_reported"]["message"])
    assert "ended badly after it reported" in message and "SIGKILL" in message


def test_two_cases_with_one_id_are_a_usage_error_that_names_both(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(
        test_twice="""
import pytest

@pytest.mark.parametrize("i", [0])
def test_a(i):
    pass

@pytest.mark.parametrize("i", [0])
def test_b(i):
    pass
"""
    )
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    result = pytester.runpytest_subprocess(f"--result-json={pytester.path / 'result.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert (
        "case id twice-0 names both test_twice.py::test_a[0] and test_twice.py::test_b[0]" in output
    )
    assert "KeyError" not in output


def test_cases_of_one_function_share_its_place_in_the_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """share_locations looks up each function's place once and gives every case the
    location pytest itself would have found."""
    from fixtures.plugin.session import share_locations

    source = """
import pytest

@pytest.mark.parametrize("i", ["a", "b", "c"])
def test_one(i):
    pass

def test_two():
    pass

class TestThree:
    @pytest.mark.parametrize("j", [1, 2])
    def test_four(self, j):
        pass
"""
    shared = pytester.getitems(source)
    looked_up: list[str] = []
    reportinfo = pytest.Function.reportinfo
    monkeypatch.setattr(
        pytest.Function,
        "reportinfo",
        lambda self: looked_up.append(self.name) or reportinfo(self),
    )
    share_locations(shared)
    assert looked_up == ["test_one[a]", "test_two", "test_four[1]"]
    found_by_pytest = [item.location for item in pytester.getitems(source)]
    assert [item.location for item in shared] == found_by_pytest
    assert len({loc[2] for loc in found_by_pytest}) == 6
