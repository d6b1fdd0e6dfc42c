"""numactl's randmap as a property: random, overlapping mbind ranges split and merge the
VMAs of one region, and every page keeps the policy the model of
fixtures/oracle/randmap.py says.

Each case is one seed (`randmap-seed0` ...): hypothesis draws EXAMPLES sequences of mbind
calls (every mode the kernel has, random masks, STATIC/RELATIVE_NODES, MPOL_MF_MOVE) and
write faults from it, each run in a child pinned to the first CPU, and each checked page
by page: the policy get_mempolicy(MPOL_F_ADDR) reads back, the node the page faulted onto
(or was moved to) where the mode makes it exact, and the number of VMAs in
/proc/self/maps. A failing sequence is shrunk (within SHRINK_RUNS more runs) and shown as
JSON that `python3 -m fixtures.workloads.randmap` replays.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import pytest

from fixtures.abi.uapi import Mode
from fixtures.matrix.randmap import (
    EXAMPLES,
    GATED_MODES,
    RandmapCase,
    randmap_cases,
    steps_strategy,
)
from fixtures.oracle.randmap import (
    Expected,
    Mbind,
    Observed,
    RegionModel,
    Step,
    predict,
    steps_to_json,
    violations,
)
from fixtures.plugin.checks import HarnessError
from fixtures.plugin.verdicts import CaseRecord
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.topology import Topology
from fixtures.workloads.randmap import REGION_PAGES, first_fault, run_steps

MATRIX = {"randmap_case": randmap_cases}

# Kernel runs a failing seed may spend shrinking its sequence, after the first failure.
SHRINK_RUNS = 40

# Where pages were allocated, not where NUMA balancing moved them after.
pytestmark = pytest.mark.usefixtures("numa_balancing_off")


@dataclass
class Search:
    """Runs sequences on the kernel and judges them by the model; remembers every verdict,
    so that hypothesis sees the same answer when it asks again, and the last failure."""

    case: RandmapCase
    topology: Topology
    profile: Profile
    release: str
    runs: int = 0
    runs_after_failure: int = 0
    seen: dict[str, tuple[list[str], Expected | None, Observed | None]] = field(
        default_factory=dict
    )
    failure: str | None = None  # the steps JSON of the last failing sequence judged
    # What the runs exercised, for the result document: calls by kind, the most VMAs the
    # region was split into, and the pages whose node was checked.
    exercised: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("mbind", "move", "fault", "most_vmas", "placed"), 0)
    )

    # Where the seed's time went: in the kernel's children, and in judging (the model).
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("children", "first_example", "judging"), 0.0)
    )

    def judge(self, steps: list[Step]) -> list[str]:
        key = steps_to_json(steps)
        started = time.monotonic()
        if key not in self.seen:
            if self.failure is not None and self.runs_after_failure >= SHRINK_RUNS:
                return []  # shrink budget spent: not run, not remembered
            self.seen[key] = self._run(steps)
        problems = self.seen[key][0]
        took = time.monotonic() - started
        self.seconds["judging"] += took
        if not self.seconds["first_example"]:
            self.seconds["first_example"] = took
        if problems:
            self.failure = key
        return problems

    def _run(self, steps: list[Step]) -> tuple[list[str], Expected, Observed]:
        self.runs += 1
        if self.failure is not None:
            self.runs_after_failure += 1
        c, nodes = self.case, self.topology.memory_nodes
        started = time.monotonic()
        outcome = run_in_child(partial(run_steps, steps, c.cpu, nodes))
        self.seconds["children"] += time.monotonic() - started
        if outcome.value is None:
            raise HarnessError(f"{outcome.describe()} running {steps_to_json(steps)}")
        run = outcome.value
        model = RegionModel(
            REGION_PAGES,
            self.topology,
            self.profile,
            self.release,
            cpu_node=c.cpu_node,
            region_pgoff=run.region_pgoff,
            weights=run.weights or None,
        )
        expected = predict(model, [first_fault(), *steps])
        self._count(steps, run.observed)
        return violations(expected, run.observed), expected, run.observed

    def _count(self, steps: list[Step], observed: Observed) -> None:
        seen = self.exercised
        for step in steps:
            if isinstance(step, Mbind):
                seen["mbind"] += 1
                seen["move"] += step.move
            else:
                seen["fault"] += 1
        seen["most_vmas"] = max(seen["most_vmas"], observed.vmas)
        seen["placed"] += sum(1 for status in observed.nodes if status >= 0)


@pytest.fixture(scope="module")
def without_local_constants() -> Iterator[None]:
    """Hypothesis (6.131 on) draws one integer in twenty from constants it harvests from
    the source of every loaded module outside the standard library and site-packages,
    the suite's own: a seed's sequences would then change whenever the suite's source
    does, and the harvest (a path resolved for each of a thousand modules, each local
    source read and parsed) took a minute of the first seed under TCG over 9p. Its
    built-in constants (0, 1, boundaries) stay; the harvest is switched off for the
    module and put back after.

    Hypothesis is imported here without its plugins: nothing the row draws consults the
    type registry they fill, and looking for them (the entry points of every installed
    distribution) was a third of the import under TCG."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPOTHESIS_NO_PLUGINS", "1")
        started = time.monotonic()
        from hypothesis.internal.conjecture import providers

        import_s.append(time.monotonic() - started)
        if hasattr(providers, "_get_local_constants"):  # older releases harvest nothing
            patch.setattr(providers, "_get_local_constants", _no_local_constants)
        yield


import_s: list[float] = []  # seconds the module's first case spent importing hypothesis


def _no_local_constants() -> object:
    from hypothesis.internal.constants_ast import Constants

    return Constants()


def kernel_modes(profile: Profile, release: str) -> list[Mode]:
    return [m for m in Mode if m not in GATED_MODES or profile.has(GATED_MODES[m], release)]


def test_randmap(
    randmap_case: RandmapCase,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
    without_local_constants: None,
) -> None:
    started = time.monotonic()
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, seed, settings

    imported = import_s.pop() if import_s else 0.0

    modes = kernel_modes(profile, kernel_release)
    search = Search(randmap_case, topology, profile, kernel_release)
    case.params = {**randmap_case.params(), "modes": [m.name for m in modes]}
    case.expected = {"model": "fixtures/oracle/randmap.py", "violations": 0}

    @seed(randmap_case.seed)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(steps_strategy(REGION_PAGES, topology.memory_nodes, modes))
    def kernel_agrees_with_model(steps: list[Step]) -> None:
        problems = search.judge(steps)
        assert not problems, "; ".join(problems)

    observed: dict[str, object] = {"hypothesis": hypothesis.__version__}
    case.observed = observed
    try:
        kernel_agrees_with_model()
    except AssertionError as exc:
        assert search.failure is not None
        problems, expected, seen = search.seen[search.failure]
        observed.update(runs=search.runs, steps=search.failure, problems=problems)
        if expected is not None and seen is not None:
            observed.update(model=expected.to_json(), kernel=seen.to_json())
        raise AssertionError(
            f"{exc}; steps {search.failure} "
            "(replay: python3 -m fixtures.workloads.randmap --cpu "
            f"{randmap_case.cpu} '<steps>')"
        ) from None
    finally:
        seconds = {k: round(v, 2) for k, v in search.seconds.items()}
        seconds.update(importing=round(imported, 2), total=round(time.monotonic() - started, 2))
        observed.update(runs=search.runs, exercised=search.exercised, seconds=seconds)
