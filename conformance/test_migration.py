"""Pages really move: move_pages, migrate_pages and mbind(MPOL_MF_MOVE*) on private
anonymous memory, checked page by page after the call.

- `move_pages-*`: each page to the node named for it (status per page = that node), also
  in another process by its pid; pages already there stay; pages a second process maps
  move with MPOL_MF_MOVE_ALL; a target node without memory fails the call with ENODEV
  only after the pages queued before it have moved;
- `migrate_pages-*`: every page of a process on the old nodes goes to the new nodes'
  node_remap() image, the rest stays; without CAP_SYS_NICE shared pages stay;
- `mbind-move*`, `mbind-strict-move-*`: the pages outside the new policy's mask move where
  a fault under it would put them; pages inside it stay; shared pages need MOVE_ALL.

- `move_pages-partial-*`, `migrate_pages-partial-*` (LTP migrate_pages02, move_pages):
  some pages cannot move (a pipe holds them, another process maps them); the return value
  counts exactly the pages the kernel says it counts, every status and node checked;
- `migrate_pages-ksm-*` (LTP migrate_pages03): pages merged by KSM, moved or left by
  migrate_pages with and without MOVE_ALL, and still merged afterwards;
- `move_pages-under-writes-*`, `move_pages-thp-*` (selftests mm migration.c): pages
  moved back and forth while threads, or another process sharing them, write them (no
  write lost, each call's count is the pages it left), and a THP moved whole;
- `ksm-merge_across_nodes*` (selftests mm ksm): identical pages under BIND and INTERLEAVE
  merged onto one node, or one KSM page per node, as the knob says.

The errors of these calls (EPERM, ESRCH, EIO, EINVAL, ENODEV...) and the statuses of
addresses with no page behind them (EFAULT, ENOENT, EACCES) are the errors area's.
"""

from __future__ import annotations

from functools import partial

import pytest

from fixtures import oracle
from fixtures.abi.syscalls import STATUS_UNTOUCHED
from fixtures.abi.uapi import MbindFlag, MoveFlag
from fixtures.knobs.base import KnobUnavailable
from fixtures.knobs.ksm import Ksm
from fixtures.matrix import (
    MbindMoveCase,
    MigratePagesCase,
    MovePagesCase,
    TopologyTooSmall,
    mbind_move_cases,
    migrate_pages_cases,
    move_pages_cases,
    or_skip,
)
from fixtures.matrix.migration_peers import (
    KSM_PAGES,
    RACE_PAGES,
    RACE_ROUNDS,
    RACE_WRITERS,
    KsmMergeCase,
    KsmMigrateCase,
    PartialMigrateCase,
    PartialMoveCase,
    RaceCase,
    ThpMoveCase,
    ksm_merge_cases,
    ksm_migrate_cases,
    partial_migrate_cases,
    partial_move_cases,
    race_cases,
    thp_move_cases,
)
from fixtures.oracle.ksm import (
    Merge,
    after_merging,
    after_migrating_merged,
    frame_summary,
    merge_problems,
)
from fixtures.oracle.migration import (
    PageKind,
    after_mbind_move,
    after_migrate_pages,
    move_pages_outcome,
    status_counts,
)
from fixtures.oracle.migration_counts import partial_migrate_pages, partial_move_pages
from fixtures.oracle.migration_race import (
    WholeFolio,
    round_problems,
    thp_statuses,
    write_problems,
)
from fixtures.oracle.placement import ExactPages, vma_placement
from fixtures.plugin.checks import observed_outcome, policy_features, require, require_thp
from fixtures.plugin.judging import Judgement, judge, placement_of, readback_of, value_of
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.frames import KPF_THP, Frame
from fixtures.system.topology import Topology
from fixtures.workloads.ksm import MergeRun, Pages, merge_identical, migrate_merged
from fixtures.workloads.migration import (
    CallResult,
    mbind_move,
    migrate_own_pages,
    migrate_partner_pages,
    move_own_pages,
    move_partner_pages,
    targets_for,
)
from fixtures.workloads.migration_counts import (
    PartialRun,
    migrate_with_held_pages,
    move_with_held_pages,
)
from fixtures.workloads.migration_race import (
    RaceRun,
    ThpRun,
    move_thp,
    move_while_process_writes,
    move_while_threads_write,
)

NEEDS_TWO = "needs two memory nodes: there is nowhere to move pages to"

MATRIX = {
    "move_case": or_skip(move_pages_cases, "move_pages", NEEDS_TWO),
    "migrate_case": or_skip(migrate_pages_cases, "migrate_pages", NEEDS_TWO),
    "mbind_case": or_skip(mbind_move_cases, "mbind-move", NEEDS_TWO),
    "partial_move_case": or_skip(partial_move_cases, "move_pages-partial", NEEDS_TWO),
    "partial_migrate_case": or_skip(partial_migrate_cases, "migrate_pages-partial", NEEDS_TWO),
    "ksm_merge_case": or_skip(ksm_merge_cases, "ksm-merge_across_nodes", NEEDS_TWO),
    "ksm_migrate_case": or_skip(ksm_migrate_cases, "migrate_pages-ksm", NEEDS_TWO),
    "race_case": or_skip(race_cases, "move_pages-under-writes", NEEDS_TWO),
    "thp_move_case": or_skip(thp_move_cases, "move_pages-thp", NEEDS_TWO),
}

PAGES = 127  # odd, so an interleave that starts on the wrong node shows in the counts


def call_of(expected_errno: str | None, call: CallResult) -> Judgement:
    """The call returned 0 (no page left unmoved), or failed with the expected errno."""
    if expected_errno:
        return value_of("errno", expected_errno, call.errno)
    return value_of("returned", 0, call.errno or call.value)


def statuses_of(expected: tuple[int | None, ...], observed: tuple[int, ...]) -> Judgement:
    seen = tuple(None if s == STATUS_UNTOUCHED else s for s in observed)
    wrong = [i for i, (e, o) in enumerate(zip(expected, seen, strict=True)) if e != o]
    problems = []
    if wrong:
        i = wrong[0]
        problems.append(
            f"{len(wrong)} statuses differ, first entry {i}: {_status(seen[i])}, "
            f"expected {_status(expected[i])}"
        )
    return {"statuses": status_counts(expected)}, {"statuses": status_counts(seen)}, problems


def _status(status: int | None) -> str:
    return status_counts([status]).popitem()[0]


def test_move_pages(
    move_case: MovePagesCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(move_case, TopologyTooSmall):
        pytest.skip(move_case.reason)
    c = move_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": PAGES}
    nodes = targets_for(PAGES, c.targets)
    if c.bad_at is not None and c.bad_node is not None:
        nodes[c.bad_at] = c.bad_node
    flags = MoveFlag.MPOL_MF_MOVE_ALL if c.move_all else MoveFlag.MPOL_MF_MOVE
    if c.other_process:
        workload = partial(move_partner_pages, c.cpu, PAGES, c.start, nodes[0])
    else:
        workload = partial(move_own_pages, c.cpu, PAGES, c.start, nodes, flags, shared=c.shared)
    run = observed_outcome(case, run_in_child(workload))
    initial = (c.start,) * PAGES
    kind = PageKind.SHARED if c.shared else PageKind.PRESENT
    expected = move_pages_outcome(
        topology,
        initial,
        nodes,
        kind=kind,
        move_all=c.move_all,
    )
    judge(
        case,
        "after",
        before=placement_of(ExactPages(initial, "bound to the start node"), run.before),
        call=call_of(expected.errno, run.call),
        status=statuses_of(expected.statuses, run.call.statuses),
        after=placement_of(expected.after, run.after.per_page),
    )


def test_migrate_pages(
    migrate_case: MigratePagesCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(migrate_case, TopologyTooSmall):
        pytest.skip(migrate_case.reason)
    c = migrate_case
    starts = topology.memory_nodes
    case.params = {
        **c.params(),
        "mapping": "anon_private",
        "pages": PAGES,
        "regions_on": list(starts),
    }
    if c.self_:
        workload = partial(migrate_own_pages, c.cpu, PAGES, starts, c.old, c.new)
    else:
        workload = partial(
            migrate_partner_pages,
            c.cpu,
            PAGES,
            starts,
            c.old,
            c.new,
            privileged=c.privileged,
            shared=c.shared,
        )
    run = observed_outcome(case, run_in_child(workload))
    parts: dict[str, Judgement] = {"call": call_of(None, run.call)}
    for start, before, after in zip(starts, run.before, run.after, strict=True):
        initial = (start,) * PAGES
        if c.shared and not c.privileged:
            # MPOL_MF_MOVE: migrate_folio_add() skips folios another process maps.
            expected = ExactPages(
                initial, "mapped by two processes: not moved without CAP_SYS_NICE"
            )
        else:
            expected = after_migrate_pages(initial, c.old, c.new)
        parts[f"region_on_node{start}_before"] = placement_of(
            ExactPages(initial, "faulted under PREFERRED"), before
        )
        parts[f"region_on_node{start}"] = placement_of(expected, after.per_page)
    judge(case, f"region_on_node{min(c.old)}", **parts)


MBIND_FLAGS = {
    "move": MbindFlag.MPOL_MF_MOVE,
    "move_all": MbindFlag.MPOL_MF_MOVE_ALL,
    "strict-move": MbindFlag.MPOL_MF_STRICT | MbindFlag.MPOL_MF_MOVE,
}


def test_mbind_move(
    mbind_case: MbindMoveCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(mbind_case, TopologyTooSmall):
        pytest.skip(mbind_case.reason)
    c = mbind_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": PAGES}
    require(profile, kernel_release, *policy_features(c.policy))
    flags = MBIND_FLAGS[c.flags]
    run = observed_outcome(
        case,
        run_in_child(partial(mbind_move, c.cpu, PAGES, c.start, c.policy, flags, shared=c.shared)),
    )
    initial = (c.start,) * PAGES
    expected = after_mbind_move(
        topology,
        initial,
        c.policy,
        profile,
        kernel_release,
        vm_pgoff=run.vm_pgoff,
        cpu_node=c.cpu_node,
        shared=c.shared,
        move_all=c.flags == "move_all",
    )
    judge(
        case,
        "after",
        before=placement_of(ExactPages(initial, "bound to the start node"), run.before),
        call=call_of(None, run.call),
        after=placement_of(expected, run.after.per_page),
        readback=readback_of(
            oracle.readback(c.policy, profile, kernel_release),
            run.readback_mode,
            run.readback_nodes,
        ),
    )


# --- partial failures (LTP migrate_pages02, move_pages) ---


def returned_of(expected: int, call: CallResult) -> Judgement:
    """The call's positive count of pages not moved (0: all that could move moved)."""
    return value_of("returned", expected, call.errno or call.value)


def test_move_pages_partial(
    partial_move_case: PartialMoveCase | TopologyTooSmall, case: CaseRecord
) -> None:
    if isinstance(partial_move_case, TopologyTooSmall):
        pytest.skip(partial_move_case.reason)
    c = partial_move_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": len(c.held)}
    nodes, held = c.nodes, c.held
    run: PartialRun = observed_outcome(
        case,
        run_in_child(
            partial(move_with_held_pages, c.cpu, c.start, nodes, held, move_all=c.move_all)
        ),
    )
    initial = (c.start,) * len(held)
    expected = partial_move_pages(initial, nodes, held, move_all=c.move_all)
    judge(
        case,
        "after",
        before=placement_of(ExactPages(initial, "bound to the start node"), run.before),
        call=returned_of(expected.returned, run.call),
        status=statuses_of(expected.statuses, run.call.statuses),
        after=placement_of(expected.after, run.after.per_page),
    )


def test_migrate_pages_partial(
    partial_migrate_case: PartialMigrateCase | TopologyTooSmall, case: CaseRecord
) -> None:
    if isinstance(partial_migrate_case, TopologyTooSmall):
        pytest.skip(partial_migrate_case.reason)
    c = partial_migrate_case
    case.params = {**c.params(), "mapping": "anon_private", "pages": len(c.held)}
    old, new, held = frozenset({c.start}), frozenset({c.dest}), c.held
    run: PartialRun = observed_outcome(
        case, run_in_child(partial(migrate_with_held_pages, c.cpu, c.start, held, old, new))
    )
    initial = (c.start,) * len(held)
    expected = partial_migrate_pages(initial, held, old, new, move_all=False)
    judge(
        case,
        "after",
        before=placement_of(ExactPages(initial, "faulted under PREFERRED"), run.before),
        call=returned_of(expected.returned, run.call),
        after=placement_of(expected.after, run.after.per_page),
    )


# --- KSM (LTP migrate_pages03, selftests mm ksm merge_across_nodes) ---


def merged_of(expected: Merge, pages: Pages) -> Judgement:
    """Placement and frames: every group on one KSM frame, no two groups on one."""
    _, observed, problems = placement_of(expected.placement, pages.nodes)
    observed = {**observed, **frame_summary(pages.pfns, pages.ksm)}
    return expected.to_json(), observed, problems + merge_problems(expected, pages.pfns, pages.ksm)


def started_ksm(merge_across_nodes: int) -> Ksm:
    ksm = Ksm()
    try:
        ksm.start(merge_across_nodes=merge_across_nodes)
    except KnobUnavailable as exc:
        ksm.restore()
        pytest.skip(f"needs KSM with merge_across_nodes: {exc}")
    except BaseException:
        ksm.restore()
        raise
    return ksm


def test_ksm_merge(
    ksm_merge_case: KsmMergeCase | TopologyTooSmall,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    if isinstance(ksm_merge_case, TopologyTooSmall):
        pytest.skip(ksm_merge_case.reason)
    c = ksm_merge_case
    case.params = {**c.params(), "mapping": "anon_private"}
    with started_ksm(c.merge_across_nodes):
        run: MergeRun = observed_outcome(
            case, run_in_child(partial(merge_identical, c.cpu, KSM_PAGES, c.policies))
        )
    placed: list[int] = []
    for policy, pgoff in zip(c.policies, run.vm_pgoffs, strict=True):
        fault = vma_placement(
            topology,
            policy,
            profile,
            kernel_release,
            npages=KSM_PAGES,
            vm_pgoff=pgoff,
            cpu_node=c.cpu_node,
        )
        assert isinstance(fault, ExactPages), f"no exact placement under {policy.label}"
        placed += fault.per_page
    faulted = ExactPages(tuple(placed), "each region as its policy places a fault")
    expected = after_merging(placed, merge_across_nodes=bool(c.merge_across_nodes))
    judge(
        case,
        "merged",
        before=placement_of(faulted, run.before.nodes),
        merged=merged_of(expected, run.after),
    )


def test_migrate_pages_ksm(
    ksm_migrate_case: KsmMigrateCase | TopologyTooSmall, case: CaseRecord
) -> None:
    if isinstance(ksm_migrate_case, TopologyTooSmall):
        pytest.skip(ksm_migrate_case.reason)
    c = ksm_migrate_case
    case.params = {**c.params(), "mapping": "anon_private"}
    old, new = frozenset({c.start}), frozenset({c.dest})
    with started_ksm(c.merge_across_nodes):
        run = observed_outcome(
            case,
            run_in_child(
                partial(
                    migrate_merged,
                    c.cpu,
                    KSM_PAGES,
                    c.start,
                    old,
                    new,
                    move_all=c.move_all,
                    stop_ksmd=c.stop_ksmd,
                )
            ),
        )
    initial = (c.start,) * KSM_PAGES
    merged = after_merging(initial, merge_across_nodes=bool(c.merge_across_nodes))
    expected = after_migrating_merged(initial, old, new, move_all=c.move_all)
    # A KSM page that moved is a new frame; one left behind keeps its own.
    new_frame = run.merged.pfns[0] != run.after.pfns[0]
    judge(
        case,
        "after",
        merged=merged_of(merged, run.merged),
        call=returned_of(0, run.call),
        after=merged_of(expected, run.after),
        frame=value_of("new_frame", c.move_all, new_frame),
        # For the record only: pgmigrate_* over the call says whether a migration was tried.
        migrations=({}, dict(run.migrations), []),
    )


# --- under use, and THP (selftests mm migration.c) ---


def test_move_pages_under_writes(race_case: RaceCase | TopologyTooSmall, case: CaseRecord) -> None:
    if isinstance(race_case, TopologyTooSmall):
        pytest.skip(race_case.reason)
    c = race_case
    case.params = c.params()
    mover = move_while_process_writes if c.mapping == "anon_shared" else move_while_threads_write
    run: RaceRun = observed_outcome(
        case,
        run_in_child(
            partial(mover, c.cpu, RACE_PAGES, c.start, c.nodes, RACE_ROUNDS, RACE_WRITERS)
        ),
    )
    initial = (c.start,) * RACE_PAGES
    rounds = [
        p for r in run.rounds for p in round_problems(r.target, r.call.value, r.call.errno, r.after)
    ]
    last = run.settle.target
    judge(
        case,
        "settled",
        before=placement_of(ExactPages(initial, "faulted under PREFERRED"), run.before),
        rounds=(
            {"each_round": "returns the pages it left behind"},
            {"returned": [r.call.errno or r.call.value for r in run.rounds]},
            rounds,
        ),
        writes=(
            {"lost": 0, "stale": 0},
            {"writes": run.writes.writes, "lost": run.writes.lost, "stale": run.writes.stale},
            write_problems(run.writes.writes, run.writes.lost, run.writes.stale),
        ),
        settle=returned_of(0, run.settle.call),
        settled=placement_of(
            ExactPages((last,) * RACE_PAGES, "writers stopped: every page moves"),
            run.settle.after,
        ),
    )


def test_move_pages_thp(thp_move_case: ThpMoveCase | TopologyTooSmall, case: CaseRecord) -> None:
    if isinstance(thp_move_case, TopologyTooSmall):
        pytest.skip(thp_move_case.reason)
    c = thp_move_case
    case.params = c.params()
    require_thp()
    run: ThpRun = observed_outcome(
        case, run_in_child(partial(move_thp, c.cpu, c.start, c.target, every_page=c.every_page))
    )
    faulted = WholeFolio(c.start, "a PMD-sized THP faulted under PREFERRED")
    moved = WholeFolio(c.target, "the THP moved whole: one folio on the target")
    judge(
        case,
        "after",
        before=_folio_of(faulted, run.before, run.frames_before),
        call=returned_of(0, run.call),
        status=statuses_of(
            thp_statuses(c.target, c.start, every_page=c.every_page), run.call.statuses
        ),
        after=_folio_of(moved, run.after, run.frames_after),
    )


def _folio_of(expected: WholeFolio, nodes: tuple[int, ...], frames: tuple[Frame, ...]) -> Judgement:
    want, seen, problems = placement_of(expected.placement(), nodes)
    pfns = [f.pfn for f in frames]
    problems += expected.frame_problems(pfns, [f.has(KPF_THP) for f in frames])
    return want, {**seen, "contiguous_frames": problems == []}, problems
