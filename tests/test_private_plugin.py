"""The `private_node` fixture and the --private-* options on a tiny project (pytester):
no provider is a skip with the reason, the kernel provider on a kernel without the series
makes every case that needs the node `unsupported`, a bad setup is an `error`."""

import json

import pytest

from vm.runner import REPO_ROOT

pytest_plugins = ["pytester"]

CASES = """
class Case:
    def __init__(self, name): self.id = name
    def params(self): return {"name": self.id}

MATRIX = {"c": lambda topology: [Case("one"), Case("two")]}

def test_private(c, private_node, case):
    case.observed = {"node": private_node.node}
"""


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *options: str
) -> dict[str, dict[str, object]]:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(test_area=CASES)
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    result_json = pytester.path / "result.json"
    pytester.runpytest_subprocess(f"--result-json={result_json}", *options)
    document = json.loads(result_json.read_text())
    return {c["id"]: c for c in document["cases"]}


def test_no_provider_is_a_skip_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = run(pytester, monkeypatch)
    assert {c["verdict"] for c in cases.values()} == {"skip"}
    assert "no private-node provider" in str(cases["area-one"]["message"])


def test_kernel_without_the_series_is_unsupported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This host's kernel is a stock kernel: it shows no private-node interface."""
    cases = run(pytester, monkeypatch, "--private-provider=kernel", "--profile=private-v5")
    assert [c["verdict"] for c in cases.values()] == ["unsupported", "unsupported"]
    assert "lacks the N_MEMORY_PRIVATE series" in str(cases["area-two"]["message"])


def test_a_node_that_cannot_be_fenced_is_an_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node 0 has CPUs (or does not exist): the stand-in providers refuse it."""
    cases = run(pytester, monkeypatch, "--private-provider=unprotected", "--private-node=0")
    assert {c["verdict"] for c in cases.values()} == {"error"}
    assert "not a CPU-less memory node" in str(cases["area-one"]["message"])
