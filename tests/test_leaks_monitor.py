"""The leak monitor: counters from recorded node files, deltas, noise floor, watermarks.

`qemu-private-6.12` is a real recording of the `private*` presets' layout on Debian's 6.12
kernel, with the same boot's /proc/zoneinfo beside the node folders.
"""

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from fixtures.private.evidence import node_allocations
from fixtures.private.leaks import (
    NodeSample,
    Snapshot,
    allocations_served,
    counter_delta,
    events_delta,
    leak_in,
    leak_out,
    measure_noise_floor,
    snapshot,
)
from fixtures.system.zones import parse_zoneinfo

TREE = Path(__file__).parent / "data" / "sysfs" / "qemu-private-6.12"


def test_counters_in_pages_from_a_recorded_node() -> None:
    node2 = NodeSample.read(TREE / "node2")
    # meminfo: Slab 3488 kB, KernelStack 8 kB, MemUsed 9224 kB; 4 kB pages.
    assert node2.counters["slab"] == 872
    assert node2.counters["kernel_stack"] == 2
    assert node2.counters["used"] == 2306
    assert (node2.counters["anon"], node2.counters["file"], node2.counters["shmem"]) == (0, 0, 0)
    assert node2.numastat["numa_hit"] == 1166 and node2.numastat["numa_miss"] == 0
    assert node2.vmstat["nr_free_pages"] == node2.counters["free"]
    node0 = NodeSample.read(TREE / "node0")
    # FilePages includes Shmem; the "file" counter is the page cache proper.
    assert node0.counters["file"] + node0.counters["shmem"] > 0


def _edited_copy(tmp_path: Path, edits: dict[str, int]) -> Path:
    """The recorded tree with some meminfo fields of node 2 changed (kB)."""
    copy = tmp_path / "after"
    shutil.copytree(TREE, copy)
    meminfo = copy / "node2" / "meminfo"
    lines = []
    for line in meminfo.read_text().splitlines():
        field = line.split()[2].rstrip(":")
        if field in edits:
            line = f"Node 2 {field}: {edits[field]} kB"
        lines.append(line)
    meminfo.write_text("\n".join(lines) + "\n")
    return copy


def test_delta_per_counter_and_the_unexplained_rest(tmp_path: Path) -> None:
    before = NodeSample.read(TREE / "node2")
    # 4 MiB of anon and 400 kB of slab more; MemUsed grew by 4 MiB + 400 kB + 40 kB.
    after = NodeSample.read(
        _edited_copy(tmp_path, {"AnonPages": 4096, "Slab": 3888, "MemUsed": 9224 + 4536}) / "node2"
    )
    delta = counter_delta(before, after)
    assert delta["anon"] == 1024 and delta["slab"] == 100
    assert delta["other"] == 10  # MemUsed that no named counter explains
    assert delta["file"] == delta["shmem"] == 0


def test_the_per_cpu_lists_are_free_memory_not_other(tmp_path: Path) -> None:
    before = NodeSample.read(TREE / "node2", pcp=550)
    # 400 pipe pages served from the per-CPU lists: MemFree, so MemUsed, did not move.
    served = NodeSample.read(TREE / "node2", pcp=150)
    assert counter_delta(before, served)["other"] == 400
    # A drain hands the lists back to the buddy lists: MemUsed -2.2 MB, nothing allocated.
    drained = NodeSample.read(_edited_copy(tmp_path, {"MemUsed": 9224 - 2200}) / "node2", pcp=0)
    assert counter_delta(before, drained)["other"] == 0


def test_a_snapshot_reads_each_nodes_per_cpu_lists_from_zoneinfo() -> None:
    taken = snapshot([0, 2], root=TREE, zoneinfo=TREE / "zoneinfo")
    assert taken.nodes[0].counters["pcp"] == 2263 + 384  # DMA32's two CPUs; DMA has none
    assert taken.nodes[2].counters["pcp"] == 550
    missing = snapshot([2], root=TREE, zoneinfo=TREE / "no-zoneinfo")
    assert missing.nodes[2].counters["pcp"] == 0  # unreadable: taken as none


def test_a_drain_between_the_reads_reads_the_nodes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vmstat empties a CPU-less node's per-CPU lists while the snapshot reads the nodes:
    the lists read before no longer match MemUsed, so the nodes are read again."""
    zoneinfo = tmp_path / "zoneinfo"
    recorded = (TREE / "zoneinfo").read_text()
    zoneinfo.write_text(recorded)
    drained = re.sub(r"(?m)^(\s+count:\s+)\d+", r"\g<1>0", recorded)
    read = NodeSample.read
    seen: list[int] = []

    def read_while_draining(node_dir: Path, page_kib: int = 4, pcp: int = 0) -> NodeSample:
        seen.append(pcp)
        zoneinfo.write_text(drained)
        return read(node_dir, page_kib, pcp)

    monkeypatch.setattr(NodeSample, "read", read_while_draining)
    taken = snapshot([2], root=TREE, zoneinfo=zoneinfo)
    assert seen == [550, 0]  # read with the full lists, then again once they agreed
    assert taken.nodes[2].counters["pcp"] == 0


def _fixed(samples: list[dict[int, NodeSample]]) -> Iterable[Snapshot]:
    for i, nodes in enumerate(samples):
        yield Snapshot(float(i), nodes)


def test_noise_floor_is_the_largest_idle_move(tmp_path: Path) -> None:
    base = NodeSample.read(TREE / "node2")
    busy = NodeSample.read(
        _edited_copy(tmp_path, {"Slab": 3488 + 8, "MemUsed": 9224 + 8}) / "node2"
    )
    sequence = _fixed([{2: base}, {2: busy}, {2: base}])
    floor = measure_noise_floor(
        [2], interval_s=0.0, samples=2, take=lambda nodes: next(sequence), sleep=lambda s: None
    )
    assert floor.of(2)["slab"] == 2 and floor.of(2)["anon"] == 0
    assert floor.to_json()["samples"] == 2


def test_leak_in_subtracts_the_floor_and_keeps_the_record(tmp_path: Path) -> None:
    before = snapshot([0, 1, 2], TREE)
    after = snapshot([0, 1, 2], _edited_copy(tmp_path, {"AnonPages": 400, "MemUsed": 9624}))
    floor = measure_noise_floor(
        [0, 1, 2], interval_s=0.0, samples=1, take=lambda nodes: before, sleep=lambda s: None
    )
    report = leak_in(before, after, 2, floor)
    assert report.pages["anon"] == 100 and report.user_pages == 100
    assert report.kernel_pages == 0
    record = report.to_json()
    assert record["direction"] == "leak-in" and record["node"] == 2
    assert record["raw_delta"]["0"]["anon"] == 0  # type: ignore[index]


def test_leak_out_counts_pages_elsewhere() -> None:
    assert leak_out((2, 2, 0, 1, 0, -14), 2) == {
        "direction": "leak-out",
        "node": 2,
        "pages": {"0": 2, "1": 1},
        "total": 3,
    }


def test_zoneinfo_rooms_from_a_recorded_boot() -> None:
    rooms = parse_zoneinfo((TREE / "zoneinfo").read_text())
    assert sorted(rooms) == [0, 1, 2]
    dma, dma32 = rooms[0].zones[:2]
    # The DMA zone keeps its lowmem reserve from allocations that could go higher.
    assert (dma.free, dma.low, dma.protection) == (3808, 237, 191)
    # What a fill sees now: the buddy lists above the low watermark and the reserve.
    assert {n: r.above_low_now for n, r in rooms.items()} == {0: 41921, 1: 48339, 2: 57679}
    # What the node can still absorb: the per-CPU lists too (2,263 + 384 pages on node 0's
    # DMA32), which a drain hands back; the leak workloads are sized past it.
    assert dma32.pcp == 2263 + 384
    assert rooms[0].above_low == 41921 + 2647
    assert rooms[1].zones[0].low == 3996


@pytest.mark.parametrize("text", ["", "Node 0, zone   Normal\n  pages free 0\n  managed 0\n"])
def test_zoneinfo_without_populated_zones(text: str) -> None:
    assert all(not room.zones for room in parse_zoneinfo(text).values())


def test_allocations_served_count_what_was_freed_before_the_snapshot() -> None:
    """ksmd merged what spilled: the pages are gone, the allocations the node served stay."""
    before = NodeSample.read(TREE / "node2")
    served = {**before.numastat, "numa_hit": before.numastat["numa_hit"] + 5, "numa_miss": 2640}
    after = NodeSample(before.counters, served, before.vmstat)
    delta = counter_delta(before, after)
    assert delta["allocations"] == 5 + 2640 - before.numastat["numa_miss"]
    assert delta["anon"] == 0
    # numa_foreign counts on the node that was wanted, not the one that served: not counted.
    wanted = NodeSample(before.counters, {**before.numastat, "numa_foreign": 9}, before.vmstat)
    assert counter_delta(before, wanted)["allocations"] == 0


def test_a_node_without_numastat_serves_unknown_allocations_not_none() -> None:
    """No numastat file: the allocations are unknown to the evidence check, so a freed
    child's gap stays open; as a leak counter they read 0, a signal that is absent."""
    before = NodeSample.read(TREE / "node2")
    bare = NodeSample(before.counters, {}, before.vmstat)
    assert events_delta(bare, bare) == {}
    assert allocations_served(events_delta(bare, bare)) is None
    assert node_allocations(events_delta(bare, bare), counting=True) is None
    assert counter_delta(bare, bare)["allocations"] == 0
    assert allocations_served(events_delta(before, before)) == 0
