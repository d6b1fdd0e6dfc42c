"""What the errors area judges beyond the errno: a move_pages page status, and the
read-back of a call that must not fail. Recorded topologies for the oracle; this host's
kernel (node 0) for the workloads that need only one memory node, in forked children."""

import os
from functools import partial
from pathlib import Path

import pytest

from fixtures.matrix.errors import CaseNodes, ErrorCase, error_cases
from fixtures.oracle.errors import CAUSES, Cause, Where, errno_expectation, expected_errno
from fixtures.plugin.checks import HarnessError, check_errno
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import load_profile
from fixtures.system.child import ChildOutcome, run_in_child
from fixtures.system.topology import Topology, discover
from fixtures.workloads.errors import UNWRITTEN_STATUS, ErrnoRun, _status, run_workload

SYSFS = Path(__file__).parent / "data" / "sysfs"
SPARSE = discover(SYSFS / "sparse-0-1-4")  # memory 0, 1, 4; 2 and 3 offline
MAINLINE = load_profile("mainline")
OLD, NEW = "6.1.0-56-amd64", "6.12.117+deb12-amd64"
ON_TARGET = "move_pages-status-ok-shared-page-on-target-node"

needs_numa = pytest.mark.skipif(
    not Path("/sys/devices/system/node/node0").exists(), reason="host kernel without NUMA"
)


def _case(cid: str, topology: Topology = SPARSE) -> ErrorCase:
    (found,) = [c for c in error_cases(topology) if c.id == cid]
    return found


def _judge(cid: str, run: ErrnoRun, topology: Topology = SPARSE, release: str = NEW) -> None:
    """check_errno as conformance/test_errors.py calls it."""
    c = _case(cid, topology)
    expected = errno_expectation(c.cause, c.nodes, topology.has_memory, MAINLINE, release)
    check_errno(CaseRecord(), expected, ChildOutcome(value=run))


# --- move_pages page status -------------------------------------------------------------------


def test_a_status_the_kernel_never_wrote_fails() -> None:
    with pytest.raises(AssertionError, match="without writing the page's status"):
        _judge(ON_TARGET, _status(UNWRITTEN_STATUS))
    with pytest.raises(AssertionError, match="without writing the page's status"):
        _judge("move_pages-status-EFAULT-zero-page-query", _status(UNWRITTEN_STATUS))


def test_a_page_without_error_must_report_the_node_it_is_on() -> None:
    memory = CaseNodes.from_topology(SPARSE).memory  # the page is faulted there, the target
    _judge(ON_TARGET, _status(memory))
    with pytest.raises(AssertionError, match=f"page status 4, expected {memory}"):
        _judge(ON_TARGET, _status(4))  # another memory node of SPARSE


def test_an_error_status_is_minus_the_errno_of_the_kernel_under_test() -> None:
    unpopulated = _case("move_pages-status-ENOENT-unpopulated-anon-query")
    old = errno_expectation(unpopulated.cause, unpopulated.nodes, SPARSE.has_memory, MAINLINE, OLD)
    new = errno_expectation(unpopulated.cause, unpopulated.nodes, SPARSE.has_memory, MAINLINE, NEW)
    assert (old.status, new.status) == (-14, -2)
    assert new.to_json()["status"] == -2
    _judge("move_pages-status-ENOENT-unpopulated-anon-query", _status(-14), release=OLD)
    with pytest.raises(AssertionError):
        _judge("move_pages-status-ENOENT-unpopulated-anon-query", _status(-14), release=NEW)


def test_every_status_cause_states_its_status() -> None:
    nodes = CaseNodes.from_topology(SPARSE)
    for cause in CAUSES:
        expected = errno_expectation(cause, nodes, SPARSE.has_memory, MAINLINE, NEW)
        assert (expected.status is not None) == (cause.where == Where.STATUS), cause.id


def test_a_status_expectation_without_a_status_cannot_pass() -> None:
    """Judged on the errno alone, any node (or the sentinel) would pass a no-error status."""
    (cause,) = [c for c in CAUSES if c.id == ON_TARGET]
    bare = expected_errno(cause, MAINLINE, NEW)
    with pytest.raises(HarnessError, match="no page status"):
        check_errno(CaseRecord(), bare, ChildOutcome(value=_status(0)))


def _on_this_host(cause: Cause) -> ErrorCase:
    return ErrorCase(cause, CaseNodes.from_topology(discover()))


@needs_numa
def test_live_status_of_a_shared_page_already_on_the_target_node() -> None:
    host = discover()
    c = _on_this_host(next(c for c in CAUSES if c.id == ON_TARGET))
    outcome = run_in_child(partial(run_workload, c))
    expected = errno_expectation(c.cause, c.nodes, host.has_memory, MAINLINE, os.uname().release)
    check_errno(CaseRecord(), expected, outcome)
    assert outcome.unwrap().status == c.nodes.memory
