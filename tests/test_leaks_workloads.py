"""The leak workloads on this host: held children, knobs put back, small real workloads.

Every workload here is small; the guest runs them at full size under pressure.
"""

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.abi.uapi import Mode
from fixtures.private.setup import Knobs, sparse_file
from fixtures.system.held import Held
from fixtures.system.memory import PAGE_SIZE
from fixtures.workloads import leaks
from fixtures.workloads.leaks import (
    Filler,
    bound_region,
    fill,
    fork_storm,
    kernel_allocations,
    relative_fold_faults,
    task_policy_faults,
    thp_collapse,
)


def test_held_child_keeps_its_memory_until_released(tmp_path: Path) -> None:
    marker = tmp_path / "released"

    def work() -> Iterator[dict[str, Any]]:
        yield {"pid": os.getpid()}
        marker.write_text("done")

    with Held(work) as held:
        assert held.result.info == {"pid": held.result.pid}
        assert held.alive() and not marker.exists()
    assert marker.read_text() == "done"
    assert held.result.ended == "exit 0"


def test_held_child_killed_before_yielding_is_an_outcome() -> None:
    def work() -> Iterator[dict[str, Any]]:
        os.kill(os.getpid(), signal.SIGKILL)
        yield {}

    with Held(work) as held:
        assert held.result.info is None and held.result.signal == "SIGKILL"
        assert "killed by SIGKILL" in held.result.describe()


def test_held_child_errors_travel_back() -> None:
    def work() -> Iterator[dict[str, Any]]:
        raise OSError(22, "bad")
        yield {}

    with Held(work) as held:
        assert held.result.error is not None and held.result.error.startswith("EINVAL")


def test_held_child_that_dies_later_is_noticed() -> None:
    def work() -> Iterator[dict[str, Any]]:
        yield {}

    with Held(work) as held:
        os.kill(held.result.pid, signal.SIGKILL)
        os.waitid(os.P_PID, held.result.pid, os.WEXITED | os.WNOWAIT)
        assert not held.alive()
    assert held.result.ended == "SIGKILL"


def test_nested_held_children_are_released_in_turn() -> None:
    def outer() -> Iterator[dict[str, Any]]:
        yield {"which": "outer"}

    def inner() -> Iterator[dict[str, Any]]:
        yield {"which": "inner"}

    with Held(outer) as first:
        with Held(inner) as second:
            assert second.result.info == {"which": "inner"}
        assert second.result.ended == "exit 0"
    assert first.result.ended == "exit 0"  # the inner child did not keep its release open


def test_knobs_are_put_back_even_when_a_write_fails(tmp_path: Path) -> None:
    good, bad = tmp_path / "run", tmp_path / "missing" / "knob"
    good.write_text("0\n")
    with pytest.raises(FileNotFoundError), Knobs({good: "1", bad: "1"}):
        pass
    assert good.read_text() == "0\n"
    with Knobs({good: "1"}) as knobs:
        assert good.read_text() == "1\n"
        assert knobs.to_json() == {str(good): "1"}
    assert good.read_text() == "0\n"


def test_fill_stops_at_its_cap_and_says_so() -> None:
    info = fill(Filler("anon"), [0], 0, overshoot_pages=0, cap_pages=256)
    assert info["allocated_pages"] == 256 and info["stopped"] in ("cap", "full")
    assert set(info["room_pages"]) == {"0"}


class ScriptedFiller(Filler):
    """Grows by what it is asked, allocating nothing: the rooms come from a script."""

    def __init__(self) -> None:
        super().__init__("file")

    def grow(self, pages: int) -> int:
        return pages


def test_fill_is_full_once_each_normal_node_has_been_at_its_low_watermark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Page cache: kswapd lifts node 0 back up while node 1 comes down; never both at once.
    script = iter(
        [
            {0: 50_000, 1: 40_000, 2: 64_659},  # at the start
            {0: 1_000, 1: 20_000, 2: 64_659},  # node 0 at low
            {0: 9_000, 1: 1_500, 2: 64_659},  # node 0 reclaimed up, node 1 at low
            {0: 8_000, 1: 6_000, 2: 64_659},
        ]
    )
    monkeypatch.setattr(leaks, "node_rooms", lambda nodes: next(script))
    chunk = leaks.CHUNK_PAGES
    info = fill(ScriptedFiller(), [0, 1], 2, overshoot_pages=chunk, cap_pages=10 * chunk)
    assert info["full_at_pages"] == 2 * chunk  # the second step: both have been at low
    assert info["stopped"] == "full" and info["allocated_pages"] == 3 * chunk


def test_page_cache_filler_reads_a_sparse_file(tmp_path: Path) -> None:
    path = sparse_file(tmp_path, 512, "big")
    assert path.stat().st_size == 512 * PAGE_SIZE
    info = fill(Filler("file", file=path), [0], 0, overshoot_pages=4096, cap_pages=4096)
    assert info["allocated_pages"] == 512 and info["stopped"] == "end of file"


def test_kernel_allocations_hold_the_pipe_pages_asked_for() -> None:
    with Held(kernel_allocations(files=1, lookups=1, pipe_pages=600)) as held:
        assert held.result.info is not None
        assert held.result.info["pipe_bytes"] == 600 * PAGE_SIZE
        assert held.result.info["pipes"] <= 3  # 1 MiB pipes as root, 256 pages each


@pytest.mark.parametrize(
    "workload",
    [
        fork_storm(children=4, touch_pages=2),
        kernel_allocations(files=20, lookups=50, pipe_pages=600),
        task_policy_faults(Mode.MPOL_INTERLEAVE, frozenset({0}), npages=16),
        thp_collapse(512),
        bound_region(0, 16, lambda: None),
        relative_fold_faults(0, npages=16),
    ],
    ids=["fork-storm", "kernel-allocs", "interleave-all", "thp-collapse", "consumer", "relative"],
)
def test_small_workloads_run_and_report(workload: Any) -> None:
    with Held(workload) as held:
        assert held.result.error is None, held.result.error
        assert held.result.info
    assert held.result.ended == "exit 0"


def test_relative_fold_faults_its_pages_under_the_relative_mask() -> None:
    with Held(relative_fold_faults(0, npages=16)) as held:
        assert held.result.info == {"relative_node": 0, "pages": 16}
        policy = Path(f"/proc/{held.result.pid}/numa_maps").read_text()
    assert "bind=relative:0" in policy, policy


def test_a_refused_relative_mask_is_what_the_workload_yields_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RFC v4 refuses a fold onto a private node without NP_OPS_MEMPOLICY with EINVAL; no
    stock kernel refuses a relative mask, so the refusal is stood in for (the workload runs
    in a fork of this process, which keeps the stand-in)."""

    def refuse(*_: object, **__: object) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(leaks, "mbind", refuse)
    with Held(relative_fold_faults(2, npages=16)) as held:
        assert held.result.error is None
        assert held.result.info == {"refused": "EINVAL"}


def test_shmem_filler_grows_a_memfd() -> None:
    filler = Filler("shmem")
    assert filler.grow(8) == 8 and filler.grow(8) == 8


def test_page_cache_filler_reads_the_file_to_its_last_page(tmp_path: Path) -> None:
    # 300 pages: one whole 1 MiB read and a 44-page tail, which must be read too.
    path = sparse_file(tmp_path, 300, "tail")
    info = fill(Filler("file", file=path), [0], 0, overshoot_pages=300, cap_pages=300)
    assert info["allocated_pages"] == 300 and info["stopped"] == "cap"
    assert info["cap_pages"] == 300
