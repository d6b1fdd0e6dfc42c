"""The randmap model (fixtures/oracle/randmap.py): hand-computed sequences, the strategy's
sequences replayed through JSON, and wrong models caught by the same comparison the
guest case makes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fixtures.abi.uapi import Mode, ModeFlag
from fixtures.matrix.randmap import steps_strategy
from fixtures.oracle import Policy
from fixtures.oracle.randmap import (
    Expected,
    Fault,
    Installed,
    Mbind,
    Observed,
    RegionModel,
    Step,
    install,
    predict,
    steps_from_json,
    steps_to_json,
    violations,
)
from fixtures.profiles import load_profile
from fixtures.system.topology import discover

# Nodes 0 and 1: CPU and memory; 2: memoryless CPU node; 3: CPU-less memory.
TOPOLOGY = discover(Path(__file__).parent / "data" / "sysfs" / "qemu-3mem-1memoryless")
MAINLINE = load_profile("mainline")
RELEASE = "6.12.57+deb13-amd64"
PAGES = 48
PGOFF = 0x7F0000001  # odd: an interleave over two nodes starts on the second
MODES = [m for m in Mode if m != Mode.MPOL_WEIGHTED_INTERLEAVE]
NODES = TOPOLOGY.memory_nodes  # (0, 1, 3)


def model(**changes: object) -> RegionModel:
    args: dict[str, object] = {
        "npages": PAGES,
        "topology": TOPOLOGY,
        "profile": MAINLINE,
        "release": RELEASE,
        "cpu_node": 0,
        "region_pgoff": PGOFF,
        **changes,
    }
    return RegionModel(**args)  # type: ignore[arg-type]


def bind(
    first: int, n: int, *nodes: int, flags: ModeFlag = ModeFlag(0), move: bool = False
) -> Mbind:
    return Mbind(first, n, Policy(Mode.MPOL_BIND, frozenset(nodes), flags), move=move)


def agreeing_kernel(expected: Expected) -> Observed:
    """The observation of a kernel that does exactly what `expected` says (the lowest node
    where several are allowed; -ENOENT for an absent page)."""
    return Observed(
        errnos=(),
        readback=tuple((r.mode, r.nodes) for r in expected.readback),
        nodes=tuple(min(n) if n is not None else -2 for n in expected.nodes),
        vmas=len(expected.vmas),
    )


def test_install_keeps_what_the_kernel_keeps() -> None:
    allowed = NODES
    assert install(Policy(Mode.MPOL_DEFAULT), allowed) is None
    local = Policy(Mode.MPOL_LOCAL)
    assert install(Policy(Mode.MPOL_PREFERRED), allowed) == Installed(local, local)
    preferred = install(Policy(Mode.MPOL_PREFERRED, frozenset({3, 1})), allowed)
    assert preferred is not None and preferred.shown.nodes == frozenset({1})
    static = install(
        Policy(Mode.MPOL_PREFERRED, frozenset({3, 1}), ModeFlag.MPOL_F_STATIC_NODES), allowed
    )
    assert static is not None
    assert (static.shown.nodes, static.places.nodes) == (frozenset({1, 3}), frozenset({1}))
    # RELATIVE: bit i is the i-th allowed node, folded: {0, 2} -> {0, 3}; read back as given.
    relative = install(
        Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 2}), ModeFlag.MPOL_F_RELATIVE_NODES), allowed
    )
    assert relative is not None
    assert (relative.shown.nodes, relative.places.nodes) == (frozenset({0, 2}), frozenset({0, 3}))


def test_a_range_inside_one_vma_splits_it_in_three_and_a_neighbour_merges() -> None:
    m = model()
    predict(m, [bind(4, 4, 1)])
    assert [(v.first, v.end) for v in m.vmas()] == [(0, 4), (4, 8), (8, PAGES)]
    predict(m, [bind(8, 4, 1)])  # the same policy beside it: one VMA again
    assert [(v.first, v.end) for v in m.vmas()] == [(0, 4), (4, 12), (12, PAGES)]
    predict(m, [Mbind(0, PAGES, Policy(Mode.MPOL_DEFAULT))])
    assert len(m.vmas()) == 1


def test_equal_masks_with_other_flags_are_other_policies() -> None:
    m = model()
    predict(m, [bind(0, 8, 1), bind(8, 8, 1, flags=ModeFlag.MPOL_F_STATIC_NODES)])
    assert len(m.vmas()) == 3
    # PREFERRED keeps its first node only, so {1, 3} and {1} are the same policy...
    predict(
        m,
        [
            Mbind(0, 8, Policy(Mode.MPOL_PREFERRED, frozenset({1, 3}))),
            Mbind(8, 8, Policy(Mode.MPOL_PREFERRED, frozenset({1}))),
        ],
    )
    assert len(m.vmas()) == 2
    # ... and LOCAL is a policy, not the absence of one (DEFAULT).
    predict(m, [Mbind(0, 16, Policy(Mode.MPOL_LOCAL))])
    assert len(m.vmas()) == 2


def test_faults_follow_the_policy_of_their_time_and_move_follows_the_mask() -> None:
    interleave = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1}))
    m = model()
    expected = predict(m, [Fault(0, 1), Mbind(0, 8, interleave), Fault(0, 8)])
    # Page 0 was written under DEFAULT from node 0; the rest interleave by virtual page.
    assert expected.nodes[:4] == (frozenset({0}), frozenset({0}), frozenset({1}), frozenset({0}))
    expected = predict(m, [bind(0, 8, 1)])  # no MOVE: nothing moves
    assert expected.nodes[0] == frozenset({0})
    expected = predict(m, [bind(0, 4, 0, 3, move=True)])  # pages on node 0 stay, 1 -> 0
    assert expected.nodes[:4] == (frozenset({0}),) * 4
    expected = predict(m, [bind(0, 2, 3, move=True)])
    assert expected.nodes[:3] == (frozenset({3}), frozenset({3}), frozenset({0}))


def test_the_interleave_index_is_the_virtual_page_number_across_splits() -> None:
    interleave = Policy(Mode.MPOL_INTERLEAVE, frozenset({0, 1, 3}))
    steps: list[Step] = [Mbind(10, 20, interleave), bind(15, 2, 1), Fault(10, 20)]
    expected = predict(model(), steps)
    order = (0, 1, 3)
    for page in (*range(10, 15), *range(17, 30)):
        assert expected.nodes[page] == frozenset({order[(PGOFF + page) % 3]})


def test_violations_name_each_kind_of_difference() -> None:
    expected = predict(model(), [Fault(0, 1), bind(4, 4, 1), Fault(4, 2)])
    kernel = agreeing_kernel(expected)
    assert violations(expected, kernel) == []
    wrong = [
        dataclasses.replace(kernel, errnos=(None, "EINVAL")),
        dataclasses.replace(kernel, vmas=1),
        dataclasses.replace(kernel, readback=((0, frozenset()),) * PAGES),
        dataclasses.replace(kernel, nodes=(0, -2, -2, -2, 0, 1, *(-2,) * (PAGES - 6))),
        dataclasses.replace(kernel, nodes=(0, 0, *kernel.nodes[2:])),  # present, not written
    ]
    for observed in wrong:
        assert violations(expected, observed), observed


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps_strategy(PAGES, NODES, MODES))
def test_generated_sequences_replay_through_json_and_keep_the_invariants(steps: list[Step]) -> None:
    assert steps_from_json(steps_to_json(steps)) == steps
    expected = predict(model(), steps)
    vmas = expected.vmas
    assert vmas[0].first == 0 and vmas[-1].end == PAGES
    pairs = zip(vmas, vmas[1:], strict=False)
    assert all(a.end == b.first and a.policy != b.policy for a, b in pairs)
    assert violations(expected, agreeing_kernel(expected)) == []


class NeverMerges(RegionModel):
    def vmas(self):  # type: ignore[no-untyped-def]
        runs = super().vmas()
        return tuple(p for v in runs for p in [v] * (v.end - v.first))


class MovesEverything(RegionModel):
    def mbind(self, call: Mbind) -> None:
        super().mbind(dataclasses.replace(call, move=False))
        if call.move:
            pages = range(call.first, call.first + call.npages)
            for page in pages:
                if self.placed[page] is not None:
                    self.placed[page] = self.where(page)


class InterleavesFromTheRegion(RegionModel):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.region_pgoff = 0


class PreferredKeepsTheMask(RegionModel):
    def mbind(self, call: Mbind) -> None:
        super().mbind(call)
        if call.policy.mode == Mode.MPOL_PREFERRED and len(call.policy.nodes) > 1:
            shown = call.policy
            for page in range(call.first, call.first + call.npages):
                kept = self.policies[page]
                assert kept is not None
                self.policies[page] = Installed(shown, kept.places)


@pytest.mark.parametrize(
    "wrong", [NeverMerges, MovesEverything, InterleavesFromTheRegion, PreferredKeepsTheMask]
)
def test_a_wrong_model_is_caught(wrong: type[RegionModel]) -> None:
    """The kernel is played by the model itself; a model wrong in one rule must disagree
    with it on some generated sequence, found by the search the guest case runs."""

    def disagrees(steps: list[Step]) -> bool:
        kernel = agreeing_kernel(predict(model(), steps))
        mutant = wrong(PAGES, TOPOLOGY, MAINLINE, RELEASE, cpu_node=0, region_pgoff=PGOFF)
        return bool(violations(predict(mutant, steps), kernel))

    @settings(
        max_examples=500,
        database=None,
        derandomize=True,
        phases=(Phase.generate,),
        # Generation is slow on a loaded host; the search, not its speed, is the test.
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(steps_strategy(PAGES, NODES, MODES))
    def agrees(steps: list[Step]) -> None:
        assert not disagrees(steps)

    with pytest.raises(AssertionError):
        agrees()
