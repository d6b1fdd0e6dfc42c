"""The oracle's rules for the newer modes, the mode flags, home nodes and pressure,
checked against hand-computed expectations and the kernel's own examples."""

from pathlib import Path

import pytest

from fixtures.abi.uapi import Mode, ModeFlag
from fixtures.matrix import (
    PressureCase,
    interleave_weights,
    pressure_bind_cases,
    pressure_cases,
    pressure_spill_cases,
    rebind_cases,
    weighted_interleave_cases,
)
from fixtures.oracle.modes import (
    NodeRoom,
    NoFallback,
    PolicyState,
    ZoneRoom,
    bind_full,
    create_state,
    home_node_placement,
    pressure_spill,
    rebind_state,
    relative_nodemask,
    remap_nodes,
    state_placement,
    state_readback,
)
from fixtures.oracle.placement import (
    ExactPages,
    Policy,
    Proportional,
    Within,
    task_placement,
    vma_placement,
    weighted_interleave_pages,
)
from fixtures.profiles import load_profile
from fixtures.system.topology import discover
from fixtures.system.zones import parse_highatomic, parse_zoneinfo

DATA = Path(__file__).parent / "data"
# Memory nodes 0, 1, 3; CPU nodes 0, 1 and the memoryless 2; node 3 is 30 from everyone.
TOPOLOGY = discover(DATA / "sysfs" / "qemu-3mem-1memoryless")
SPARSE = discover(DATA / "sysfs" / "sparse-0-1-4")
MAINLINE = load_profile("mainline")
NEW = "6.12.117+deb12-amd64"
OLD = "5.13.0"  # before 7858d7bca7fb: preferred nodes were remapped as documented
STATIC = ModeFlag.MPOL_F_STATIC_NODES
RELATIVE = ModeFlag.MPOL_F_RELATIVE_NODES
BALANCING = ModeFlag.MPOL_F_NUMA_BALANCING


def kernel_weighted_interleave_nid(weights: dict[int, int], ilx: int) -> int:
    """weighted_interleave_nid() of mm/mempolicy.c (6.9-6.15), line by line."""
    nodes = sorted(weights)
    target = ilx % sum(weights.values())
    nid = nodes[0]
    while target:
        weight = weights[nid]
        if target < weight:
            break
        target -= weight
        nid = nodes[(nodes.index(nid) + 1) % len(nodes)]
    return nid


@pytest.mark.parametrize("first_index", [0, 1, 2, 5, 0x7F1FA4C58, 2**40 + 3])
def test_weighted_interleave_follows_the_kernel_walk(first_index: int) -> None:
    weights = {0: 3, 1: 1, 3: 2}
    pages = weighted_interleave_pages(weights, 40, first_index)
    assert pages == tuple(
        kernel_weighted_interleave_nid(weights, first_index + i) for i in range(40)
    )


def test_weighted_interleave_runs_of_weight_pages_from_the_lowest_node() -> None:
    assert weighted_interleave_pages({3: 1, 0: 2}, 6, 0) == (0, 0, 3, 0, 0, 3)
    assert weighted_interleave_pages({3: 1, 0: 2}, 3, 2) == (3, 0, 0)
    # A weight of 0 is the kernel's default, 1 (get_il_weight), not a refusal.
    assert weighted_interleave_pages({0: 0, 1: 2}, 6, 0) == (0, 1, 1, 0, 1, 1)
    with pytest.raises(ValueError):
        weighted_interleave_pages({0: -1, 1: 1}, 3, 0)


def test_vma_weighted_interleave_is_exact_and_ignores_nodes_outside_the_mask() -> None:
    policy = Policy(Mode.MPOL_WEIGHTED_INTERLEAVE, frozenset({0, 3}))
    expected = vma_placement(
        TOPOLOGY,
        policy,
        MAINLINE,
        NEW,
        npages=256,
        vm_pgoff=0x7F0000001,
        cpu_node=0,
        weights={0: 3, 1: 9, 3: 1},
    )
    assert isinstance(expected, ExactPages)
    assert expected.counts == {0: 192, 3: 64}  # 64 whole rounds of 3 + 1
    rotated = expected.per_page[1:] + expected.per_page[:1]
    assert any("wrong node" in p for p in expected.violations(rotated))
    with pytest.raises(ValueError):
        vma_placement(TOPOLOGY, policy, MAINLINE, NEW, npages=4, vm_pgoff=0, cpu_node=0)


def test_task_weighted_interleave_is_a_weighted_balance() -> None:
    policy = Policy(Mode.MPOL_WEIGHTED_INTERLEAVE, frozenset({0, 1}))
    expected = task_placement(
        TOPOLOGY, policy, MAINLINE, NEW, npages=256, cpu_node=0, weights={0: 1, 1: 3}
    )
    assert isinstance(expected, Proportional) and isinstance(expected, Within)
    assert expected.violations((0,) * 64 + (1,) * 192) == []
    assert expected.violations((0,) * 67 + (1,) * 189) == []  # three strays: within 4
    assert expected.violations((0,) * 128 + (1,) * 128) != []  # an even split is wrong
    assert expected.violations((0,) * 64 + (1,) * 191 + (3,)) != []
    assert expected.to_json()["weights"] == {"0": 1, "1": 3}


@pytest.mark.parametrize(
    ("nodes", "cpu_node", "answer"),
    [
        ({1, 3}, 0, {1}),  # 1 is 20 away, 3 is 30
        ({0, 3}, 1, {0}),
        ({3}, 0, {3}),
        ({0, 1}, 2, {0, 1}),  # from the memoryless node both are 20 away: a tie
        ({0, 1, 3}, 1, {1}),
    ],
)
def test_preferred_many_takes_the_masks_nearest_node(
    nodes: set[int], cpu_node: int, answer: set[int]
) -> None:
    policy = Policy(Mode.MPOL_PREFERRED_MANY, frozenset(nodes))
    expected = vma_placement(
        TOPOLOGY, policy, MAINLINE, NEW, npages=8, vm_pgoff=0, cpu_node=cpu_node
    )
    if len(answer) == 1:
        assert isinstance(expected, ExactPages) and expected.counts == {answer.pop(): 8}
    else:
        assert isinstance(expected, Within) and expected.nodes == answer


@pytest.mark.parametrize(
    ("mode", "nodes", "home", "answer"),
    [
        (Mode.MPOL_BIND, {0, 3}, 3, {3}),  # the home node is in the mask
        (Mode.MPOL_PREFERRED_MANY, {0, 3}, 1, {0}),  # 0 is 20 from node 1, 3 is 30
        (Mode.MPOL_BIND, {0, 1}, 3, {0, 1}),  # both 30 from node 3: a tie
        (Mode.MPOL_PREFERRED_MANY, {1, 3}, 2, {1}),  # a memoryless home node
    ],
)
def test_home_node_starts_the_zonelist(
    mode: Mode, nodes: set[int], home: int, answer: set[int]
) -> None:
    expected = home_node_placement(TOPOLOGY, Policy(mode, frozenset(nodes)), home, npages=4)
    if len(answer) == 1:
        assert isinstance(expected, ExactPages) and expected.counts == {answer.pop(): 4}
    else:
        assert isinstance(expected, Within) and expected.nodes == answer
        assert expected.violations((0, 0, 0, 0)) == []
        assert expected.violations((1, 1, 1, 1)) == []
        # One zonelist's first zone takes every fault: a split over the tie is a finding.
        assert expected.violations((0, 1, 0, 1)), "a split over tied nodes passed"
    with pytest.raises(ValueError):
        home_node_placement(TOPOLOGY, Policy(Mode.MPOL_PREFERRED, frozenset({0})), 1, npages=1)


def test_relative_nodemask_matches_the_documented_examples() -> None:
    # numa_memory_policy.rst: an interleave over 2-5 relative to mems 2-5, the mems then
    # 3-7, then 0,2-3,5.
    user = {2, 3, 4, 5}
    assert relative_nodemask(user, {3, 4, 5, 6, 7}) == {3, 5, 6, 7}
    assert relative_nodemask(user, {0, 2, 3, 5}) == {0, 2, 3, 5}
    # The MPOL_F_RELATIVE_NODES commit: nodemask 1-3 against several mems.
    assert relative_nodemask({1, 2, 3}, {4, 5, 6, 7}) == {5, 6, 7}
    assert relative_nodemask({1, 2, 3}, {1, 2, 3}) == {1, 2, 3}
    assert relative_nodemask({1, 2, 3}, set(range(1, 8))) == {2, 3, 4}
    assert relative_nodemask({1, 2, 3}, {1, 5, 6}) == {1, 5, 6}
    assert relative_nodemask({1, 2, 3}, {1, 5, 6, 7}) == {5, 6, 7}


def test_remap_matches_bitmap_remap() -> None:
    # lib/bitmap.c's example: old 4-7, new 12-15, src 1,5,7 -> 1,13,15.
    assert remap_nodes({1, 5, 7}, range(4, 8), range(12, 16)) == {1, 13, 15}
    # numa_memory_policy.rst: mems 1-3 -> 3-5 moves an interleave over 1-3 to 3-5.
    assert remap_nodes({1, 2, 3}, {1, 2, 3}, {3, 4, 5}) == {3, 4, 5}
    # Fewer new nodes wrap around; an empty map changes nothing.
    assert remap_nodes({0, 1, 3}, {0, 1, 3}, {1}) == {1}
    assert remap_nodes({0, 1}, set(), {1}) == {0, 1}


def scenario(policy: Policy, old: set[int], new: set[int], release: str = NEW) -> PolicyState:
    return rebind_state(create_state(policy, frozenset(old)), frozenset(new), MAINLINE, release)


def exact_placement(
    state: PolicyState,
    mems: set[int],
    *,
    api: str = "mbind",
    npages: int = 2,
    vm_pgoff: int = 0,
    cpu_node: int = 0,
) -> ExactPages:
    """Where `npages` faulted under `state`, with `mems` allowed, land: page by page."""
    expected = state_placement(
        TOPOLOGY,
        state,
        frozenset(mems),
        MAINLINE,
        NEW,
        api=api,
        npages=npages,
        vm_pgoff=vm_pgoff,
        cpu_node=cpu_node,
    )
    assert isinstance(expected, ExactPages)
    return expected


@pytest.mark.parametrize(
    ("flags", "nodes", "readback_nodes"),
    [
        (ModeFlag(0), {1, 3}, {1, 3}),  # remapped by position: 0 -> 1, 1 -> 3
        (STATIC, {1}, {0, 1}),  # the user's nodes still allowed; reads back the user's mask
        (RELATIVE, {1, 3}, {0, 1}),  # positions 0 and 1 of the new mems
    ],
)
def test_bind_after_the_mems_lose_node0(
    flags: ModeFlag, nodes: set[int], readback_nodes: set[int]
) -> None:
    state = scenario(Policy(Mode.MPOL_BIND, frozenset({0, 1}), flags), {0, 1, 3}, {1, 3})
    assert state.nodes == nodes
    assert state_readback(state).nodes == readback_nodes
    assert state_readback(state).mode == Mode.MPOL_BIND | flags


def test_static_nodes_with_nothing_left_use_every_allowed_node() -> None:
    state = scenario(Policy(Mode.MPOL_INTERLEAVE, frozenset({0}), STATIC), {0, 1, 3}, {1, 3})
    assert state.nodes == {1, 3}
    assert exact_placement(state, {1, 3}, npages=4, vm_pgoff=1).per_page == (3, 1, 3, 1)


@pytest.mark.parametrize(
    ("flags", "nodes"),
    [(ModeFlag(0), {0}), (STATIC, {1}), (RELATIVE, {1})],
)
def test_plain_and_relative_part_ways_off_0_to_n(flags: ModeFlag, nodes: set[int]) -> None:
    # Mems 1,3 -> 0,1 with the user's node 1: plain remaps node 1 (position 0) to node 0;
    # RELATIVE keeps position 1, which is node 1 in the new mems (node 3 before).
    made = create_state(Policy(Mode.MPOL_BIND, frozenset({1}), flags), frozenset({1, 3}))
    assert made.nodes == ({3} if flags == RELATIVE else {1})
    assert scenario(made.policy, {1, 3}, {0, 1}).nodes == nodes


def test_preferred_is_not_remapped_since_5_14_and_loses_the_users_mask() -> None:
    user = frozenset({0, 1})
    plain = scenario(Policy(Mode.MPOL_PREFERRED, user), {0, 1, 3}, {1, 3})
    assert plain.nodes == {0}
    assert state_readback(plain).nodes == {0}
    static = scenario(Policy(Mode.MPOL_PREFERRED, user, STATIC), {0, 1, 3}, {1, 3})
    assert static.nodes == {0}
    assert state_readback(static).nodes == {1, 3}  # the new mems, not the user's {0, 1}
    many = scenario(Policy(Mode.MPOL_PREFERRED_MANY, user, RELATIVE), {0, 1, 3}, {1, 3})
    assert many.nodes == {0, 1} and state_readback(many).nodes == {1, 3}
    # Node 0 is outside the mems: the allocation walks node 0's zonelist to node 1.
    assert exact_placement(plain, {1, 3}).counts == {1: 2}


def test_preferred_was_remapped_as_documented_before_5_14() -> None:
    user = frozenset({0, 1})
    plain = scenario(Policy(Mode.MPOL_PREFERRED, user), {0, 1, 3}, {1, 3}, OLD)
    assert plain.nodes == {1} and state_readback(plain).nodes == {1}
    static = scenario(Policy(Mode.MPOL_PREFERRED, user, STATIC), {0, 1, 3}, {1, 3}, OLD)
    assert static.nodes == frozenset() and state_readback(static).nodes == user  # local
    relative = scenario(Policy(Mode.MPOL_PREFERRED, user, RELATIVE), {0, 1, 3}, {1, 3}, OLD)
    assert relative.nodes == {1}


def test_preferred_many_without_an_allowed_mask_node_goes_near_the_cpu() -> None:
    state = scenario(Policy(Mode.MPOL_PREFERRED_MANY, frozenset({1}), RELATIVE), {1, 3}, {0, 1})
    assert state.nodes == {3}  # relative position 1 of mems 1,3, never remapped
    assert exact_placement(state, {0, 1}, api="set_mempolicy", cpu_node=1).counts == {1: 2}


def test_flags_at_creation() -> None:
    # RELATIVE folds positions past the node count back: 3 -> 0, 4 -> 1 with three nodes.
    fold = create_state(Policy(Mode.MPOL_BIND, frozenset({3, 4}), RELATIVE), frozenset({0, 1, 4}))
    assert fold.nodes == {0, 1}
    assert state_readback(fold).nodes == {3, 4}
    # PREFERRED keeps only the first node but reads back the user's mask with a flag.
    preferred = create_state(
        Policy(Mode.MPOL_PREFERRED, frozenset({1, 3}), STATIC), TOPOLOGY.has_memory
    )
    assert preferred.nodes == {1} and state_readback(preferred).nodes == {1, 3}
    # NUMA_BALANCING is one of MPOL_MODE_FLAGS: read back with the mode and the mask.
    balancing = create_state(Policy(Mode.MPOL_BIND, frozenset({1}), BALANCING), TOPOLOGY.has_memory)
    assert state_readback(balancing).mode == 2 | (1 << 13)
    with pytest.raises(ValueError):
        create_state(Policy(Mode.MPOL_BIND, frozenset({2})), TOPOLOGY.has_memory)


def room(node: int, free: int, low: int = 100, file_pages: int = 0, slab: int = 0) -> NodeRoom:
    zones = (ZoneRoom(free=free, min=low // 2, low=low, protection=0),)
    return NodeRoom(node, zones, file_pages, slab)


def test_preferred_spills_to_the_preferred_nodes_nearest() -> None:
    policy = Policy(Mode.MPOL_PREFERRED, frozenset({3}))
    full = [room(3, 900, file_pages=500)]
    expected = pressure_spill(TOPOLOGY, policy, full, MAINLINE, npages=8192, cpu_node=0)
    assert expected.fallback == {0, 1}  # both 30 from node 3
    assert expected.min_fallback == 8192 - (800 + 500) - 1024  # room, page cache, slack
    assert expected.violations((3,) * 800 + (0,) * 7000 + (1,) * 392) == []
    assert expected.violations((3,) * 8192) != []
    assert expected.violations((3,) * 800 + (2,) * 7392) != []


def test_preferred_many_spills_inside_the_mask_first() -> None:
    policy = Policy(Mode.MPOL_PREFERRED_MANY, frozenset({0, 3}))
    expected = pressure_spill(TOPOLOGY, policy, [room(0, 300)], MAINLINE, npages=8192, cpu_node=0)
    assert expected.fallback == {3}  # not node 1, nearer but outside the mask
    assert expected.violations((0,) * 200 + (1,) * 7992) != []
    whole = pressure_spill(
        TOPOLOGY,
        Policy(Mode.MPOL_PREFERRED_MANY, frozenset({1, 3})),
        [room(1, 300, file_pages=1000, slab=400), room(3, 300)],
        MAINLINE,
        npages=32768,
        cpu_node=0,
    )
    assert whole.fallback == {0}
    # A quarter below the min watermark (50 -> 37), plus what kswapd reclaims.
    assert whole.min_fallback == 32768 - (263 + 1000 + 400 + 263) - 1024


def test_a_full_node_keeps_its_room_before_falling_back() -> None:
    # Node 3 had 4000 pages above low: it takes them (less 256 others may use) first.
    policy = Policy(Mode.MPOL_PREFERRED, frozenset({3}))
    expected = pressure_spill(TOPOLOGY, policy, [room(3, 4100)], MAINLINE, npages=20000, cpu_node=0)
    assert expected.min_first == 4000 - 512
    assert expected.violations((3,) * 4000 + (0,) * 16000) == []
    early = expected.violations((3,) * 100 + (0,) * 19900)
    assert early and "fell back early" in early[0]
    # PREFERRED_MANY whose full node is farther from the CPU than the free one: no bound.
    far = pressure_spill(
        TOPOLOGY,
        Policy(Mode.MPOL_PREFERRED_MANY, frozenset({0, 3})),
        [room(3, 4100)],
        MAINLINE,
        npages=20000,
        cpu_node=0,
    )
    assert far.min_first == 0


def test_bind_never_falls_back() -> None:
    expected = bind_full(
        Policy(Mode.MPOL_BIND, frozenset({1})), MAINLINE, room_above_low=2060, unrecorded_pages=16
    )
    assert expected.signals == {"SIGKILL", "SIGBUS"}
    with pytest.raises(ValueError):
        bind_full(
            Policy(Mode.MPOL_PREFERRED, frozenset({1})),
            MAINLINE,
            room_above_low=2060,
            unrecorded_pages=16,
        )


def bind_node2(room: int) -> NoFallback:
    return bind_full(
        Policy(Mode.MPOL_BIND, frozenset({2})), MAINLINE, room_above_low=room, unrecorded_pages=16
    )


def test_a_bind_kill_counts_once_the_room_above_low_was_faulted() -> None:
    # The hogs leave 2,048 pages above low (HEADROOM_PAGES); others may take 512 of them
    # first and the step in progress (16) is not recorded yet.
    expected = bind_node2(2060)
    assert expected.min_faulted == 2060 - 512 - 16
    # 7.3.4 (Debian), pressure-bind-full-node2: killed after 3,408 pages.
    clean = dict(probed=3408, stray=0, first_stray=None)
    assert expected.kill_violations("SIGKILL", faulted=3408, **clean) == []
    assert expected.kill_violations("SIGBUS", faulted=1532, **clean) == []


def test_a_bind_kill_before_the_room_was_used_is_a_finding() -> None:
    # 6.1.0-57, pressure-bind-full-node2: passed with a child killed in its first step.
    (early,) = bind_node2(2060).kill_violations(
        "SIGKILL", faulted=0, probed=0, stray=0, first_stray=None
    )
    assert "after faulting 0 pages against a room of 2060" in early
    assert "at least 1532 expected" in early


def test_a_bind_kill_with_pages_elsewhere_or_another_signal_is_a_finding() -> None:
    expected = bind_node2(2060)
    (stray,) = expected.kill_violations(
        "SIGKILL", faulted=4000, probed=4000, stray=3, first_stray=0
    )
    assert "3 of 4000 probed pages" in stray and "first: node 0" in stray
    (other,) = expected.kill_violations(
        "SIGSEGV", faulted=4000, probed=4000, stray=0, first_stray=None
    )
    assert "SIGSEGV" in other
    assert expected.to_json()["min_faulted_pages"] == 1532


def test_zoneinfo_rooms_from_a_recorded_file() -> None:
    rooms = parse_zoneinfo((DATA / "zoneinfo" / "host-6.18-1node.txt").read_text())
    assert set(rooms) == {0}
    dma, dma32, normal, *_ = rooms[0].zones
    assert (dma.free, dma.low, dma.protection) == (3840, 38, 8139)  # against Movable
    assert dma32.protection == 5120 and normal.protection == 0
    assert rooms[0].above_low == sum(
        max(0, z.free - z.low - z.protection) + z.pcp for z in rooms[0].zones
    )
    assert rooms[0].file_pages > 0
    assert dma32.pcp == 66 + 60  # the two CPUs' lists


def test_mode_rows_from_a_recorded_topology() -> None:
    ids = [c.id for c in weighted_interleave_cases(TOPOLOGY)]
    assert "mbind-weighted-interleave-nodes0,3-weights2,1" in ids
    assert "set_mempolicy-weighted-interleave-nodes0,1,3-weights1,3,5" in ids
    assert interleave_weights((0, 1, 3), frozenset({0, 3}), "rising") == ((0, 1), (1, 9), (3, 3))
    # Sparse ids: one CPU-less node only, so nodes 1 and 4 are the ones that vary.
    remap = [c.id for c in rebind_cases(SPARSE)]
    assert "relative-nodes-remap-mbind-bind-nodes1,4-mems0,1,4-to-0,4" in remap
    assert "no-flag-remap-set_mempolicy-preferred-node4-mems0,4-to-0,1" in remap
    assert len(remap) == len(set(remap)) == 3 * 2 * 4 * 3
    spill = [c.id for c in pressure_spill_cases(TOPOLOGY)]
    assert "preferred-many-nodes0,3-full-node0" in spill  # nearest and farthest from node 0
    assert "preferred-many-nodes1,3-full-nodes1,3" in spill  # the pair farthest from node 0
    assert "preferred-full-node0-set_mempolicy" in spill
    bind = [c.id for c in pressure_bind_cases(TOPOLOGY)]
    assert bind == ["bind-full-node0", "bind-full-node1", "bind-full-node3"] + [
        "bind-full-node0-set_mempolicy"
    ]


def test_pressure_cases_share_fills_in_order() -> None:
    cases = pressure_cases(TOPOLOGY)
    assert all(isinstance(c, PressureCase) for c in cases)
    fulls = [c.full for c in cases if isinstance(c, PressureCase)]
    # Each set of full nodes comes up once, in one run of consecutive cases.
    runs = [f for i, f in enumerate(fulls) if i == 0 or fulls[i - 1] != f]
    assert len(runs) == len(set(runs))
    assert [c.id for c in cases][:5] == [
        "preferred-full-node0",
        "preferred-full-node0-set_mempolicy",
        "preferred-many-nodes0,3-full-node0",
        "bind-full-node0",
        "bind-full-node0-set_mempolicy",
    ]


def test_a_watermark_boost_is_room_that_comes_back() -> None:
    # zoneinfo's min/low include the boost; kswapd drops it after its next pass.
    zone = ZoneRoom(free=2000, min=1700, low=1900, protection=0, boost=1500, pcp=300)
    boosted = NodeRoom(2, (zone,), 0)
    assert boosted.above_low_now == 100  # what a filler may take: no per-CPU pages
    assert boosted.above_low == 2000 - 400 + 300
    assert boosted.above_min == 2000 - 200 * 3 // 4 + 300  # a quarter below min, no reclaim
    rooms = parse_zoneinfo((DATA / "zoneinfo" / "host-6.18-1node.txt").read_text())
    assert all(z.boost == 0 for z in rooms[0].zones)


def test_numa_balancing_moves_pages_to_the_using_node_only_with_the_flag() -> None:
    from fixtures.oracle.modes import balancing_placement

    flagged = Policy(Mode.MPOL_BIND, frozenset({0, 1}), ModeFlag.MPOL_F_NUMA_BALANCING)
    moved = balancing_placement(flagged, start=0, used_from=1, npages=4)
    assert moved.violations((1, 1, 1, 1)) == [] and moved.violations((0, 1, 1, 1))
    plain = balancing_placement(
        Policy(Mode.MPOL_BIND, frozenset({0, 1})), start=0, used_from=1, npages=4
    )
    assert plain.violations((0, 0, 0, 0)) == [] and plain.violations((1, 1, 1, 1))
    outside = Policy(Mode.MPOL_BIND, frozenset({0, 3}), ModeFlag.MPOL_F_NUMA_BALANCING)
    assert balancing_placement(outside, start=0, used_from=1, npages=2).violations((0, 0)) == []


def test_a_highatomic_reserve_is_no_room_for_user_pages() -> None:
    """Blocks reserved for high-order atomic allocations are counted out of a user page's
    watermark check: a zone with 3 of them (1,536 pages) falls back that much earlier."""
    recorded = (DATA / "pagetypeinfo" / "host-6.18-1node.txt").read_text()
    assert set(parse_highatomic(recorded).values()) == {0}
    assert (0, "Normal") in parse_highatomic(recorded)
    # The same file with three Normal blocks reserved (the column after Reclaimable).
    rows = recorded.splitlines()
    normal = next(
        i
        for i, r in enumerate(rows)
        if r.startswith("Node 0, zone   Normal") and "type" not in r and len(r.split()) == 9
    )
    cells = rows[normal].split()
    cells[7] = "3"
    rows[normal] = " ".join(cells)
    reserved = parse_highatomic("\n".join(rows))
    assert reserved[(0, "Normal")] == 3 * 512 and reserved[(0, "DMA32")] == 0
    zoneinfo = (DATA / "zoneinfo" / "host-6.18-1node.txt").read_text()
    plain, held = parse_zoneinfo(zoneinfo)[0], parse_zoneinfo(zoneinfo, reserved)[0]
    normal_zone = next(z for z in held.zones if z.highatomic)
    assert normal_zone.highatomic == 1536
    assert plain.above_low_now - held.above_low_now == min(1536, plain.above_low_now)
    assert held.to_json()["highatomic"] == 1536
