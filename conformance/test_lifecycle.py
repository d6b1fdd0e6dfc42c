"""A policy lives on through fork, clone and execve, and a VMA policy through mremap and
VMA splits, exactly as if it had been set where the pages are faulted.

- `fork-task-*`: the task policy of a process is its fork()ed child's (get_mempolicy reads
  it back there, and the child's faults follow it);
- `fork-vma-*`: a mapping mbind()-ed before fork() carries its policy, and its interleave
  rotation, into the child's copy of the VMA;
- `fork-cow-*`: the copies the child makes on write are allocated under that policy, while
  the parent's pages stay where they were;
- `threads-*`: each thread has its own task policy; a new thread starts with its creator's;
- `execve-*`: the task policy survives execve(2) into a fresh program;
- `mremap-*`: a moved VMA keeps its policy, and keeps its interleave rotation (vm_pgoff)
  once it has been faulted, while a never-faulted one takes the new address's;
- `mprotect-split-*`, `mbind-split-*`: the pieces of a split VMA keep their own policies
  and the page offsets of the whole.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from fixtures import oracle
from fixtures.matrix import (
    LifecycleCase,
    PolicyPairCase,
    TopologyTooSmall,
    lifecycle_cases,
    or_skip,
    policy_pair_cases,
)
from fixtures.oracle.lifecycle import (
    Part,
    inherited_task_placement,
    inherited_vma_placement,
    split_placement,
    untouched_local,
    vm_pgoff_after_mremap,
)
from fixtures.oracle.placement import Expectation, Readback
from fixtures.plugin.checks import observed_outcome
from fixtures.plugin.judging import Judgement, judge, placement_of, readback_of
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.memory import PAGE_SHIFT
from fixtures.system.topology import Topology
from fixtures.workloads.lifecycle import (
    SplitRun,
    execve_with_task_policy,
    fork_cow_copies,
    fork_task_policy,
    fork_vma_policy,
    mbind_split,
    mprotect_split,
    mremap_region,
    threads_with_own_policies,
)
from fixtures.workloads.placement import DEFAULT_PAGES, PlacementRun

NEEDS_TWO = "needs two memory nodes: an interleave or a pair of policies needs two"


def _events(prefix: str) -> Callable[[Topology], list[LifecycleCase]]:
    return lambda t: [c for c in lifecycle_cases(t) if c.event.startswith(prefix)]


MATRIX = {
    "fork_case": _events("fork-"),
    "execve_case": _events("execve"),
    "mremap_case": or_skip(_events("mremap-"), "mremap", NEEDS_TWO),
    "pair_case": or_skip(policy_pair_cases, "threads-and-splits", NEEDS_TWO),
}


def _run_placement(
    run: PlacementRun, expected: Expectation, readback: Readback
) -> dict[str, Judgement]:
    return {
        "placement": placement_of(expected, run.placement.per_page),
        "readback": readback_of(readback, run.readback_mode, run.readback_nodes),
    }


INHERITED = {
    "fork-task": fork_task_policy,
    "fork-vma": fork_vma_policy,
    "execve": execve_with_task_policy,
}


def check_inherited(
    c: LifecycleCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
    *,
    event: str,
) -> None:
    """The pages a child (or the program after execve) faults under the task or VMA policy
    it inherited, and the policy it reads back."""
    pages, workload = DEFAULT_PAGES, INHERITED[c.event]
    run = observed_outcome(case, run_in_child(partial(workload, c.policy, pages, c.cpu)))
    if c.event == "fork-vma":
        expected = inherited_vma_placement(
            topology,
            c.policy,
            profile,
            kernel_release,
            npages=pages,
            vm_pgoff=run.vm_pgoff,
            cpu_node=c.cpu_node,
            event=event,
        )
    else:
        expected = inherited_task_placement(
            topology,
            c.policy,
            profile,
            kernel_release,
            npages=pages,
            cpu_node=c.cpu_node,
            event=event,
            vm_pgoff=run.vm_pgoff,
        )
    readback = oracle.readback(c.policy, profile, kernel_release)
    judge(case, "placement", **_run_placement(run, expected, readback))


def test_fork(
    fork_case: LifecycleCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c, pages = fork_case, DEFAULT_PAGES
    case.params = {**c.params(), "mapping": "anon_private", "pages": pages}
    if c.event != "fork-cow":
        check_inherited(c, topology, profile, kernel_release, case, event="fork")
        return
    cow = observed_outcome(case, run_in_child(partial(fork_cow_copies, c.policy, pages, c.cpu)))
    copies = inherited_vma_placement(
        topology,
        c.policy,
        profile,
        kernel_release,
        npages=pages,
        vm_pgoff=cow.child.vm_pgoff,
        cpu_node=c.cpu_node,
        event="fork, copied on write",
    )
    parent = untouched_local(topology, pages, c.cpu_node)
    judge(
        case,
        "placement",
        **_run_placement(cow.child, copies, oracle.readback(c.policy, profile, kernel_release)),
        parent_before=placement_of(parent, cow.parent_before),
        parent_after=placement_of(parent, cow.parent_after),
    )


def test_execve(
    execve_case: LifecycleCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c = execve_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": DEFAULT_PAGES}
    check_inherited(c, topology, profile, kernel_release, case, event="execve")


def test_mremap(
    mremap_case: LifecycleCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(mremap_case, TopologyTooSmall):
        pytest.skip(mremap_case.reason)
    c, pages = mremap_case, DEFAULT_PAGES
    faulted = c.event != "mremap-unfaulted"
    grow = c.event == "mremap-grow"
    case.params = {
        **c.params(),
        "mapping": "anon_private",
        "pages": pages,
        "grow_to": 2 * pages if grow else pages,
    }
    moved = observed_outcome(
        case,
        run_in_child(partial(mremap_region, c.policy, pages, c.cpu, faulted=faulted, grow=grow)),
    )
    vm_pgoff = vm_pgoff_after_mremap(
        moved.old_vm_pgoff, moved.new_addr, faulted=moved.faulted_before > 0, page_shift=PAGE_SHIFT
    )
    expected = oracle.vma_placement(
        topology,
        c.policy,
        profile,
        kernel_release,
        npages=len(moved.run.placement.per_page),
        vm_pgoff=vm_pgoff,
        cpu_node=c.cpu_node,
    )
    readback = oracle.readback(c.policy, profile, kernel_release)
    judge(case, "placement", **_run_placement(moved.run, expected, readback))


def test_policy_pair(
    pair_case: PolicyPairCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(pair_case, TopologyTooSmall):
        pytest.skip(pair_case.reason)
    if pair_case.event == "threads":
        check_threads(pair_case, topology, profile, kernel_release, case)
    else:
        check_split(pair_case, topology, profile, kernel_release, case)


def check_threads(
    c: PolicyPairCase, topology: Topology, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    pages = DEFAULT_PAGES
    case.params = {**c.params(), "mapping": "anon_private", "pages": pages}
    runs = observed_outcome(
        case, run_in_child(partial(threads_with_own_policies, c.first, c.second, pages, c.cpu))
    )
    policies = {"main": c.first, "setter": c.second, "inheritor": c.first}
    parts: dict[str, Judgement] = {}
    for name, policy in policies.items():
        event = "clone of a thread" if name == "inheritor" else "its own set_mempolicy"
        run = runs[name]
        expected = inherited_task_placement(
            topology,
            policy,
            profile,
            kernel_release,
            npages=pages,
            cpu_node=c.cpu_node,
            event=event,
            vm_pgoff=run.vm_pgoff,
        )
        parts[f"{name}_placement"] = placement_of(expected, run.placement.per_page)
        parts[f"{name}_readback"] = readback_of(
            oracle.readback(policy, profile, kernel_release), run.readback_mode, run.readback_nodes
        )
    judge(case, "setter_placement", **parts)


SPLIT_PAGES = 256  # a multiple of 4: the quarter and half boundaries are whole pages


def check_split(
    c: PolicyPairCase, topology: Topology, profile: Profile, kernel_release: str, case: CaseRecord
) -> None:
    pages = SPLIT_PAGES
    case.params = {**c.params(), "mapping": "anon_private", "pages": pages}
    if c.event == "mprotect-split":
        quarter, half = pages // 4, pages // 2
        parts = [Part(0, half, c.first), Part(half, pages - half, c.second)]
        # The mprotect()ed middle splits each half in two: a part per VMA.
        pieces = [c.first, c.first, c.second, c.second]
        run: SplitRun = observed_outcome(
            case, run_in_child(partial(mprotect_split, c.first, c.second, pages, c.cpu, quarter))
        )
    else:
        third = pages // 3
        parts = [
            Part(0, third, c.first),
            Part(third, pages - 2 * third, c.second),
            Part(pages - third, third, c.first),
        ]
        pieces = [c.first, c.second, c.first]
        run = observed_outcome(
            case, run_in_child(partial(mbind_split, c.first, c.second, pages, c.cpu, third))
        )
    expected = split_placement(
        topology, parts, profile, kernel_release, vm_pgoff=run.vm_pgoff, cpu_node=c.cpu_node
    )
    judgements = {"placement": placement_of(expected, run.placement.per_page)}
    for policy, (page, mode, nodes) in zip(pieces, run.readbacks, strict=True):
        judgements[f"readback_page{page}"] = readback_of(
            oracle.readback(policy, profile, kernel_release), mode, nodes
        )
    judge(case, "placement", **judgements)
