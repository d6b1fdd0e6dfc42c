"""A file's page cache lands where the writing or reading task's policy says, on every
file system (LTP set_mempolicy03/04: ext4, xfs, btrfs, tmpfs).

The file is written under a task BIND, PREFERRED or INTERLEAVE, or written first and read
back under it after its cache was dropped (fsync, POSIX_FADV_DONTNEED, checked with
mincore), then mapped and probed page by page, and a regular file's folios read (pagemap
+ kpageflags). BIND and PREFERRED are exact; a regular file's page cache under a task
interleave follows the per-task counter folio by folio, each folio whole on the next node
of the mask (single pages before the file system caches large folios), with a small named
budget of turns the task's other allocations take: the slabs the caches gained, counted
with SLUB's remote partial search off, which would turn the counter unseen
(fixtures/knobs/slab.py, fixtures/oracle/filesystems.py fact 1); tmpfs
interleaves by inode number and index, exactly, page by page or, mounted huge=always,
folio by folio. A kernel without the file system makes its cases
`unsupported`; the images live in /dev/shm for the module and mounts in each child's own
mount namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from fixtures.abi.uapi import Mode
from fixtures.knobs.slab import remote_search_off
from fixtures.matrix.filesystems import FsCase, filesystem_cases
from fixtures.oracle.filesystems import (
    FILESYSTEMS,
    Backing,
    file_placement,
    huge_folios_expected,
)
from fixtures.oracle.folios import FolioRotation
from fixtures.plugin.checks import observed_outcome, require_judged
from fixtures.plugin.verdicts import CaseRecord, unsupported
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.filesystems import (
    SETUPS,
    FsImages,
    FsUnavailable,
    FsUnsupported,
    run_file_case,
)

MATRIX = {"fs_case": filesystem_cases}

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


@pytest.fixture(scope="module")
def fs_images() -> Iterator[FsImages]:
    """One image per file system, made on first use, removed when the module ends."""
    with FsImages() as images:
        yield images


def test_page_cache(
    fs_case: FsCase,
    fs_images: FsImages,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    setup, rule = SETUPS[fs_case.fs], FILESYSTEMS[fs_case.fs]
    case.params = fs_case.params()
    try:
        source = fs_images.source(setup)
    except FsUnsupported as exc:
        unsupported(str(exc))
    except FsUnavailable as exc:
        pytest.skip(str(exc))
    c = fs_case
    interleaved_cache = rule.backing is Backing.PAGE_CACHE and c.policy.mode == Mode.MPOL_INTERLEAVE
    with remote_search_off(interleaved_cache) as counted:
        run = observed_outcome(
            case,
            run_in_child(partial(run_file_case, setup, rule, c.operation, c.policy, c.cpu, source)),
        )
    side = run.side.total if counted and run.side is not None else None
    expected = file_placement(
        topology,
        rule,
        c.operation,
        c.policy,
        profile,
        kernel_release,
        geometry=run.geometry,
        cpu_node=c.cpu_node,
        side_allocations=side,
    )
    huge = huge_folios_expected(rule, run.geometry)
    case.expected = {**expected.to_json(), **({"huge_folios": huge} if huge is not None else {})}
    case.observed = run.to_json()
    per_page = run.placement.per_page
    if isinstance(expected, FolioRotation):
        # How much of the budget the task's other allocations took, and before which folio.
        case.observed["other_turns"] = expected.turns_json(per_page)
    problems = expected.violations(per_page)
    if huge is not None and run.huge_folios != huge:
        problems.append(f"{run.huge_folios} of the file's 2 MiB folios PMD-mapped, expected {huge}")
    assert not problems, "; ".join(problems)
    require_judged(expected)
