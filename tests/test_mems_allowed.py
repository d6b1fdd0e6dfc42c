"""What MPOL_F_MEMS_ALLOWED is judged against (conformance/test_readback.py): a source
outside the task, never its own mems_allowed seen twice."""

from pathlib import Path

import pytest

from fixtures.oracle.placement import mems_allowed
from fixtures.plugin.checks import check_mems_allowed
from fixtures.plugin.verdicts import CaseRecord
from fixtures.system.child import run_in_child
from fixtures.system.topology import discover
from fixtures.workloads.modes import MemsRun, mems_run, own_cpuset_path

HAS_MEMORY = frozenset({0, 1})


def test_the_cgroups_file_comes_first() -> None:
    expected = mems_allowed(frozenset({1}), "/", HAS_MEMORY)
    assert expected.nodes == frozenset({1}) and "cpuset.mems.effective" in expected.rule


def test_without_it_a_task_in_the_top_cpuset_has_every_node_with_memory() -> None:
    expected = mems_allowed(None, "/", HAS_MEMORY)
    assert expected.nodes == HAS_MEMORY and "top cpuset" in expected.rule


def test_without_it_nothing_says_what_another_cpuset_allows() -> None:
    assert mems_allowed(None, "/fenced", HAS_MEMORY).nodes is None
    assert "no /proc/self/cpuset" in mems_allowed(None, None, HAS_MEMORY).rule


def test_mems_allowed_list_agreeing_with_the_call_is_not_enough() -> None:
    """Both show task->mems_allowed: a task of the top cpuset that lost node 1 fails."""
    run = MemsRun(frozenset({0}), None, frozenset({0}), cpuset_path="/")
    with pytest.raises(AssertionError, match=r"expected \[0, 1\]"):
        check_mems_allowed(CaseRecord(), mems_allowed(None, "/", HAS_MEMORY), run)
    with pytest.raises(pytest.skip.Exception, match="nothing but the task's own"):
        check_mems_allowed(CaseRecord(), mems_allowed(None, "/fenced", HAS_MEMORY), run)
    record = CaseRecord()
    both = MemsRun(HAS_MEMORY, None, HAS_MEMORY, cpuset_path="/")
    check_mems_allowed(record, mems_allowed(None, "/", HAS_MEMORY), both)
    assert record.expected is not None and record.expected["nodes"] == [0, 1]


def test_own_cpuset_path(tmp_path: Path) -> None:
    (tmp_path / "cpuset").write_text("/machine.slice/guest\n")
    assert own_cpuset_path(tmp_path / "cpuset") == "/machine.slice/guest"
    assert own_cpuset_path(tmp_path / "missing") is None


@pytest.mark.skipif(
    not Path("/sys/devices/system/node/node0").exists(), reason="host kernel without NUMA"
)
def test_live_mems_allowed_on_this_host() -> None:
    run = run_in_child(mems_run).unwrap()
    expected = mems_allowed(run.cpuset_effective, run.cpuset_path, discover().has_memory)
    if expected.nodes is None:
        pytest.skip(expected.rule)
    check_mems_allowed(CaseRecord(), expected, run)
