"""The errors oracle: causes, the node ids they use, version gates, and the errno check."""

import pickle
import re
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.matrix.errors import CaseNodes, error_cases
from fixtures.oracle.errors import (
    CALLS,
    CAUSES,
    NOT_DOCUMENTED,
    PAGE_BITS,
    Cause,
    Need,
    Provoke,
    Where,
    errno_expectation,
    expected_after,
    expected_errno,
)
from fixtures.plugin.checks import HarnessError, check_errno, require
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import load_profile
from fixtures.system.child import ChildOutcome
from fixtures.system.topology import Topology, discover
from fixtures.workloads import errors as errors_workloads
from fixtures.workloads.errors import (
    POLICY_ARGS,
    WORKLOADS,
    ErrnoRun,
    MaskArgs,
    kernel_thread_pid,
)

SYSFS = Path(__file__).parent / "data" / "sysfs"
MEMORYLESS = discover(SYSFS / "qemu-3mem-1memoryless")  # memory 0,1,3; node 2 memoryless
SPARSE = discover(SYSFS / "sparse-0-1-4")
PRIVATE_RFC_V4 = discover(SYSFS / "private-rfc-v4")  # possible 0-4, online 0,1,4: 2 and 3 offline
MAINLINE = load_profile("mainline")
OLD, NEW = "6.1.0-56-amd64", "6.12.117+deb12-amd64"


def cause(cid: str) -> Cause:
    (found,) = [c for c in CAUSES if c.id == cid]
    return found


def test_a_registered_cause_travels_by_id_and_arrives_as_itself() -> None:
    # Every errno case's workload carries its cause to the child; by id, not field by field.
    for registered in CAUSES:
        data = pickle.dumps(registered)
        assert pickle.loads(data) is registered
        assert registered.rule.encode() not in data
    stranger = replace(CAUSES[0], rule="a rule of no registered cause")
    copy = pickle.loads(pickle.dumps(stranger))
    assert copy == stranger and copy is not stranger


def test_case_nodes_of_a_topology_with_a_memoryless_node() -> None:
    nodes = CaseNodes.from_topology(MEMORYLESS)
    assert (nodes.memory, nodes.other, nodes.memoryless, nodes.offline) == (0, 1, 2, None)
    assert (nodes.impossible, nodes.nr_node_ids) == (4, 4)
    # Three allowed nodes: 3 is a memory node, so the first multiple of 3 that is not is 6,
    # which MPOL_F_RELATIVE_NODES folds onto the first allowed node, 0.
    assert nodes.relative_alias == 6


def test_case_nodes_leave_a_private_node_out() -> None:
    """RFC v4 leaves a private node without NP_OPS_MEMPOLICY out of has_memory: it is
    neither a memory node the cases name nor a memoryless one."""
    nodes = CaseNodes.from_topology(PRIVATE_RFC_V4)  # memory 0,1; 2 memoryless; 3 private
    assert (nodes.memory, nodes.other, nodes.memoryless) == (0, 1, 2)
    # Two public memory nodes: 2 names no memory node, and folds onto the first, 0.
    assert nodes.relative_alias == 2
    only_private = replace(PRIVATE_RFC_V4, online=frozenset({0, 1, 3}))
    assert CaseNodes.from_topology(only_private).memoryless is None


def test_case_nodes_of_sparse_ids() -> None:
    nodes = CaseNodes.from_topology(SPARSE)
    assert (nodes.memory, nodes.other, nodes.memoryless, nodes.offline) == (0, 1, None, 2)
    assert (nodes.impossible, nodes.nr_node_ids, nodes.relative_alias) == (5, 5, 3)


def test_the_matrix_builds_only_what_the_topology_can_provoke() -> None:
    with_memoryless = {c.id for c in error_cases(MEMORYLESS)}
    sparse = {c.id for c in error_cases(SPARSE)}
    assert "move_pages-ENODEV-node-memoryless" in with_memoryless - sparse
    assert "move_pages-ENODEV-node-offline" in sparse - with_memoryless
    assert "mbind-EIO-strict-misplaced-page" in with_memoryless & sparse
    # A kernel thread is looked for when the case runs, not when the matrix is built.
    assert "migrate_pages-EINVAL-kernel-thread" in with_memoryless & sparse
    # The cpuset is made when the case runs; the matrix asks only for a second memory node.
    assert "move_pages-EACCES-node-outside-cpuset" in with_memoryless & sparse
    assert len(with_memoryless) == len(CAUSES) - 6  # the six offline-node causes


def test_ids_are_unique_readable_and_free_of_node_ids() -> None:
    ids = [c.id for c in CAUSES]
    assert len(ids) == len(set(ids))
    calls = "|".join(CALLS)
    for cid in ids:
        assert re.fullmatch(rf"({calls})-(status-)?(E[A-Z]+|ok)-[a-z-]+", cid), cid
    assert 80 <= len(ids) <= 170


def test_every_call_has_causes_and_every_cause_a_workload() -> None:
    assert {c.call for c in CAUSES} == set(CALLS)
    assert set(WORKLOADS) == {c.provoke for c in CAUSES} == set(Provoke)


def test_causes_and_workloads_out_of_step_do_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(WORKLOADS, Provoke.MBIND_HOLES)
    monkeypatch.delitem(POLICY_ARGS, "mode-unknown")
    with pytest.raises(RuntimeError, match="mbind-holes: no workload; policy: slugs"):
        errors_workloads._check_pairing()
    with pytest.raises(TypeError, match="provoke"):
        Cause("mbind", "new-cause", "EINVAL", "a rule")  # type: ignore[call-arg]


def test_mbind_and_set_mempolicy_share_the_policy_causes() -> None:
    for c in CAUSES:
        if c.call == "set_mempolicy":
            twin = cause(c.id.replace("set_mempolicy-", "mbind-", 1))
            assert (twin.kernel, twin.rule, twin.before) == (c.kernel, c.rule, c.before)


def test_numa_balancing_with_preferred_many_is_accepted_from_6_10() -> None:
    c = cause("set_mempolicy-ok-numa-balancing-preferred-many")
    assert expected_errno(c, MAINLINE, OLD).errno == "EINVAL"
    assert expected_errno(c, MAINLINE, "6.10.0").errno is None
    assert expected_errno(c, MAINLINE, NEW).errno is None
    assert expected_errno(c, MAINLINE, NEW).man_page == "EINVAL"  # the page says BIND only
    assert "6.10" in expected_errno(c, MAINLINE, OLD).rule


def test_an_unpopulated_anonymous_page_is_efault_before_6_12() -> None:
    for path in ("query", "move"):
        c = cause(f"move_pages-status-ENOENT-unpopulated-anon-{path}")
        old, new = expected_errno(c, MAINLINE, OLD), expected_errno(c, MAINLINE, NEW)
        assert (old.errno, new.errno) == ("EFAULT", "ENOENT")
        assert old.where == new.where == Where.STATUS
    shmem = cause("move_pages-status-ENOENT-unpopulated-shmem-query")
    assert expected_errno(shmem, MAINLINE, OLD).errno == "ENOENT"


def test_features_a_kernel_lacks_make_causes_unsupported() -> None:
    home = cause("set_mempolicy_home_node-EINVAL-flags-nonzero")
    with pytest.raises(pytest.skip.Exception, match="unsupported: set_mempolicy_home_node"):
        require(MAINLINE, "5.15.0", *home.requires)
    require(MAINLINE, OLD, *home.requires)
    # A mode the kernel lacks is an unknown mode number: EINVAL all the same, checked.
    weighted = cause("mbind-EINVAL-empty-mask-weighted-interleave")
    require(MAINLINE, OLD, *weighted.requires)  # no skip: the case runs on 6.1
    old = expected_errno(weighted, MAINLINE, OLD)
    assert old.errno == "EINVAL" and "needs Linux 6.9" in old.rule


def test_every_gate_a_cause_names_is_a_line_of_mainline_toml() -> None:
    """A gate spelled wrong would read as "every kernel has it": each one is a feature."""
    named = {f for c in CAUSES for f in c.requires} | {c.before[0] for c in CAUSES if c.before}
    assert named <= set(MAINLINE.features)


def test_the_man_page_is_recorded_where_the_kernel_differs() -> None:
    null_addr = expected_errno(cause("get_mempolicy-EFAULT-f-addr-null"), MAINLINE, NEW)
    assert (null_addr.errno, null_addr.man_page) == ("EFAULT", "EINVAL")
    zero = expected_errno(cause("mbind-EINVAL-maxnode-zero-with-mask"), MAINLINE, NEW)
    assert zero.to_json()["man_page"] == "none"  # the page: maxnode 0 ignores the mask
    home = cause("set_mempolicy_home_node-ENOENT-vma-default-policy")
    assert home.man_page == NOT_DOCUMENTED
    assert cause("mbind-EINVAL-unaligned-start").man_page == "EINVAL"


def test_causes_that_need_two_nodes_say_so() -> None:
    needs = {c.slug for c in CAUSES if c.need == Need.TWO_MEMORY_NODES}
    assert needs == {
        "strict-misplaced-page",
        "strict-move-pinned-page",
        "strict-move-shared-page",
        "shared-page-move",
    }


def test_mask_arguments() -> None:
    nodes = CaseNodes.from_topology(MEMORYLESS)
    _, maxnode, mask = MaskArgs(("memory",), maxnode="cut").build(nodes)
    assert maxnode == 1 and mask.nodes() == {0}  # bit 0 is beyond the maxnode - 1 bits read
    _, maxnode, _ = MaskArgs(("memory",), maxnode="page-bits").build(nodes)
    assert maxnode == PAGE_BITS + 1
    _, maxnode, mask = MaskArgs(("memory", "above-max"), maxnode="page-bits").build(nodes)
    assert mask.nodes() == {0, PAGE_BITS - 1}
    _, maxnode, mask = MaskArgs(("memory",), maxnode="above-page-bits").build(nodes)
    assert maxnode == PAGE_BITS + 2 and mask.nbits > PAGE_BITS
    _, maxnode, _ = MaskArgs(("memory",), maxnode="zero").build(nodes)
    assert maxnode == 0


def test_kernel_thread_pid_reads_the_flags_field(tmp_path: Path) -> None:
    for pid, comm, flags in [
        (1, "init", 0x400100),
        (7, "a) b", 0x400040),
        (9, "kworker", 0x208040),
    ]:
        (tmp_path / str(pid)).mkdir()
        fields = f"S 0 0 0 0 -1 {flags} 0 0"
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({comm}) {fields}\n")
    (tmp_path / "self").mkdir()
    assert kernel_thread_pid(tmp_path) == 9
    (tmp_path / "9" / "stat").write_text("9 (kworker) S 0 0 0 0 -1 4194560 0 0\n")
    assert kernel_thread_pid(tmp_path) is None


def _check(expected_cid: str, outcome: ChildOutcome[ErrnoRun]) -> CaseRecord:
    record = CaseRecord()
    nodes = CaseNodes.from_topology(SPARSE)
    expected = errno_expectation(cause(expected_cid), nodes, SPARSE.has_memory, MAINLINE, NEW)
    check_errno(record, expected, outcome)
    return record


def test_check_errno_compares_numbers_and_where() -> None:
    # Python names errno 95 ENOTSUP; the kernel's name is EOPNOTSUPP.
    record = _check(
        "set_mempolicy_home_node-EOPNOTSUPP-vma-policy-local", ChildOutcome(errno="ENOTSUP")
    )
    assert record.observed == {"errno": "EOPNOTSUPP", "where": "return"}
    assert record.expected is not None and record.expected["errno"] == "EOPNOTSUPP"
    unchanged = ErrnoRun(None, detail={"after": {"mode": 0, "nodes": []}})
    _check("mbind-ok-len-ulong-max", ChildOutcome(value=unchanged))
    _check(
        "move_pages-status-EFAULT-zero-page-query",
        ChildOutcome(value=ErrnoRun("EFAULT", Where.STATUS, status=-14)),
    )
    with pytest.raises(AssertionError, match="return EFAULT, expected status EFAULT"):
        _check("move_pages-status-EFAULT-zero-page-query", ChildOutcome(errno="EFAULT"))
    with pytest.raises(AssertionError, match="no error, expected return EINVAL"):
        _check("mbind-EINVAL-unaligned-start", ChildOutcome(value=ErrnoRun(None)))


def test_check_errno_tells_a_dead_child_from_a_broken_harness() -> None:
    record = CaseRecord()
    c = expected_errno(cause("mbind-ENOMEM-vma-split-over-max-map-count"), MAINLINE, NEW)
    with pytest.raises(AssertionError):
        check_errno(record, c, ChildOutcome(signal="SIGKILL"))
    assert record.observed == {"signal": "SIGKILL"}
    with pytest.raises(HarnessError):
        check_errno(CaseRecord(), c, ChildOutcome(error="SetupError: mmap failed"))


def _after(cid: str, topology: Topology = SPARSE, release: str = NEW) -> dict[str, object] | None:
    (found,) = [c for c in error_cases(topology) if c.id == cid]
    after = expected_after(found.cause, found.nodes, topology.has_memory, MAINLINE, release)
    return None if after is None else {k: v for k, v in after.items() if k != "rule"}


def test_no_error_causes_state_what_they_leave_behind() -> None:
    # SPARSE: memory 0, 1, 4; 2 and 3 possible but offline; nr_node_ids 5.
    assert _after("set_mempolicy-ok-preferred-empty-mask") == {"mode": 4, "nodes": []}
    assert _after("set_mempolicy-ok-preferred-empty-mask", release=OLD) == {"mode": 4, "nodes": []}
    assert _after("mbind-ok-len-ulong-max") == {"mode": 0, "nodes": []}
    assert _after("mbind-ok-node-offline-beside-memory-node") == {"mode": 2, "nodes": [0]}
    assert _after("set_mempolicy-ok-node-not-possible-beside-memory-node") == {
        "mode": 2,
        "nodes": [0],
    }
    # RELATIVE_NODES reads back the user's nodemask, not the folded one.
    alias = CaseNodes.from_topology(SPARSE).relative_alias
    assert _after("set_mempolicy-ok-relative-nodes-fold") == {
        "mode": 2 | (1 << 14),
        "nodes": [alias],
    }
    assert _after("get_mempolicy-ok-f-node-task-interleave") == {"node": 0}
    assert _after("mbind-EINVAL-unaligned-start") is None  # an errno is its own answer


def test_a_wrong_readback_after_no_error_fails() -> None:
    (found,) = [c for c in error_cases(SPARSE) if c.id == "mbind-ok-len-ulong-max"]
    expected = expected_errno(found.cause, MAINLINE, NEW)
    from dataclasses import replace

    after = expected_after(found.cause, found.nodes, SPARSE.has_memory, MAINLINE, NEW)
    expected = replace(expected, after=after)
    changed = ErrnoRun(None, detail={"after": {"mode": 2, "nodes": [0]}})
    with pytest.raises(AssertionError, match="read back"):
        check_errno(CaseRecord(), expected, ChildOutcome(value=changed))
