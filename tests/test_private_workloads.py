"""The explicit-path children on this host, with node 0 playing the private node (every
host has one); the guest runs them against the real private node."""

import os
from pathlib import Path

from fixtures.abi.uapi import Mode
from fixtures.oracle import Policy
from fixtures.private.providers import PrivateNode
from fixtures.system.child import run_in_child
from fixtures.workloads.private import (
    mbind_then_fault,
    migrate_onto,
    page_cache_under_bind,
    task_policy_then_fault,
)

NODE0 = PrivateNode(0, "unprotected", ())
CPU = min(os.sched_getaffinity(0))


def test_mbind_then_fault_reads_back_and_places() -> None:
    policy = Policy(Mode.MPOL_BIND, frozenset({0}))
    run = run_in_child(lambda: mbind_then_fault(NODE0, policy, 16, CPU)).unwrap()
    assert run.refused is None and run.counts == {0: 16}
    assert (run.readback_mode, run.readback_nodes) == (int(Mode.MPOL_BIND), {0})


def test_a_refused_policy_is_a_result_not_an_error() -> None:
    policy = Policy(Mode.MPOL_BIND, frozenset({63}))  # no such node on this host
    run = run_in_child(lambda: task_policy_then_fault(NODE0, policy, 4, CPU)).unwrap()
    assert run.refused == "EINVAL" and run.counts == {}


def test_migration_calls_report_where_pages_are() -> None:
    for how in ("move_pages", "migrate_pages", "mbind-move"):
        run = run_in_child(lambda how=how: migrate_onto(NODE0, how, 0, 8, CPU)).unwrap()
        assert run.refused is None and run.counts == {0: 8}, how


def test_page_cache_under_bind_maps_a_fresh_file(tmp_path: Path) -> None:
    run = run_in_child(lambda: page_cache_under_bind(NODE0, tmp_path, 8, CPU)).unwrap()
    assert run.refused is None and sum(run.counts.values()) == 8
    assert list(tmp_path.iterdir()) == []  # the file went, and its page cache with it
