"""What the errors area judges beyond the errno: a move_pages page status, and the
read-back of a call that must not fail. Recorded topologies for the oracle; this host's
kernel (node 0) for the workloads that need only one memory node, in forked children."""

import os
from functools import partial
from pathlib import Path

import pytest

from fixtures.matrix.errors import CaseNodes, ErrorCase, error_cases
from fixtures.oracle.errors import CAUSES, Where, errno_expectation, expected_errno
from fixtures.plugin.checks import HarnessError, check_errno
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import load_profile
from fixtures.system.child import ChildOutcome, run_in_child
from fixtures.system.topology import Topology, discover
from fixtures.workloads.errors import UNWRITTEN_STATUS, ErrnoRun, _status, run_workload

SYSFS = Path(__file__).parent / "data" / "sysfs"
SPARSE = discover(SYSFS / "sparse-0-1-4")  # memory 0, 1, 4; 2 and 3 offline
MEMORYLESS = discover(SYSFS / "qemu-3mem-1memoryless")  # memory 0, 1, 3; node 2 memoryless
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


@needs_numa
def test_live_status_of_a_shared_page_already_on_the_target_node() -> None:
    host = discover()
    c = _case(ON_TARGET, host)
    outcome = run_in_child(partial(run_workload, c))
    expected = errno_expectation(c.cause, c.nodes, host.has_memory, MAINLINE, os.uname().release)
    check_errno(CaseRecord(), expected, outcome)
    assert outcome.unwrap().status == c.nodes.memory


# --- what a call that must not fail leaves behind -------------------------------------------


def _after(cid: str, topology: Topology = SPARSE) -> dict[str, object] | None:
    c = _case(cid, topology)
    after = errno_expectation(c.cause, c.nodes, topology.has_memory, MAINLINE, NEW).after
    return None if after is None else {k: v for k, v in after.items() if k != "rule"}


def test_every_call_that_must_not_fail_states_what_it_leaves() -> None:
    """A "no error" judged on the errno alone passes a kernel that did something else."""
    for topology in (SPARSE, MEMORYLESS):
        for c in error_cases(topology):
            expected = errno_expectation(c.cause, c.nodes, topology.has_memory, MAINLINE, NEW)
            if expected.errno is None and expected.where == Where.RETURN:
                assert expected.after is not None, c.id


def test_mbind_flags_read_back_the_policy_and_where_the_pages_are() -> None:
    # SPARSE: memory 0, 1, 4; the case's `memory` is 0, `other` 1.
    bind0 = {"mode": 2, "nodes": [0]}
    assert _after("mbind-ok-move-unprivileged") == {**bind0, "pages_on": [0]}
    assert _after("mbind-ok-move-and-move-all") == {**bind0, "pages_on": [0]}
    assert _after("mbind-ok-strict-pages-on-policy-node") == {**bind0, "pages_on": [0]}
    assert _after("mbind-ok-strict-default") == {"mode": 0, "nodes": [], "pages_on": [0]}
    # A shared page is not moved: the policy names node 1, the page stays on 0.
    assert _after("mbind-ok-strict-move-shared-page") == {
        "mode": 2,
        "nodes": [1],
        "pages_on": [0],
    }
    default = {"mode": 0, "nodes": []}
    assert _after("mbind-ok-default-hole-in-middle") == {**default, "past_hole": default}


def test_get_mempolicy_and_home_node_read_back_the_policy() -> None:
    bind0 = {"mode": 2, "nodes": [0]}
    assert _after("get_mempolicy-ok-maxnode-nr-node-ids") == bind0
    assert _after("get_mempolicy-ok-maxnode-page-bits") == bind0
    assert _after("set_mempolicy_home_node-ok-vma-policy-bind") == bind0
    assert _after("set_mempolicy_home_node-ok-vma-policy-preferred-many") == {
        "mode": 5,
        "nodes": [0],
    }
    assert _after("set_mempolicy_home_node-ok-home-node-memoryless", MEMORYLESS) == bind0


def _read(**after: object) -> ErrnoRun:
    return ErrnoRun(None, detail={"after": after})


def test_a_call_that_did_something_else_fails() -> None:
    bind0: dict[str, object] = {"mode": 2, "nodes": [0]}
    _judge("mbind-ok-move-unprivileged", _read(**bind0, pages_on=[0]))
    with pytest.raises(AssertionError, match="read back"):  # accepted MOVE, moved nothing
        _judge("mbind-ok-move-unprivileged", _read(**bind0, pages_on=[1]))
    with pytest.raises(AssertionError, match="read back"):  # stopped at the hole
        _judge(
            "mbind-ok-default-hole-in-middle",
            _read(mode=0, nodes=[], past_hole=bind0),
        )
    with pytest.raises(AssertionError, match="read back"):  # a mask left unwritten
        _judge("get_mempolicy-ok-maxnode-page-bits", _read(mode=2, nodes=list(range(1, 64))))
    with pytest.raises(AssertionError, match="read back"):  # the policy changed
        _judge("set_mempolicy_home_node-ok-vma-policy-bind", _read(mode=0, nodes=[]))
    with pytest.raises(AssertionError, match="read back"):  # no read-back at all
        _judge("set_mempolicy_home_node-ok-vma-policy-bind", ErrnoRun(None))


# On this host's node 0: the causes above that need one memory node and no more. The
# unprivileged one drops to nobody in its child. maxnode-nr-node-ids is left out: on a
# one-node kernel maxnode is 1 and copy_nodes_to_user() writes no bit (ALIGN(0, 64)), the
# finding that case reports there.
LIVE = [
    "mbind-ok-move-unprivileged",
    "mbind-ok-move-and-move-all",
    "mbind-ok-default-hole-in-middle",
    "mbind-ok-strict-pages-on-policy-node",
    "mbind-ok-strict-default",
    "get_mempolicy-ok-maxnode-page-bits",
    "set_mempolicy_home_node-ok-vma-policy-bind",
    "set_mempolicy_home_node-ok-vma-policy-preferred-many",
]


@needs_numa
@pytest.mark.skipif(os.geteuid() != 0, reason="drops to nobody and uses MOVE_ALL: needs root")
@pytest.mark.parametrize("cid", LIVE)
def test_live_read_back_after_no_error(cid: str) -> None:
    host, release = discover(), os.uname().release
    c = _case(cid, host)
    for feature in c.cause.requires:
        if MAINLINE.unsupported_reason(feature, release):
            pytest.skip(f"this kernel lacks {feature}")
    outcome = run_in_child(partial(run_workload, c))
    expected = errno_expectation(c.cause, c.nodes, host.has_memory, MAINLINE, release)
    check_errno(CaseRecord(), expected, outcome)
    assert "after" in outcome.unwrap().detail
