"""Private nodes: the explicit path reaches the node, exactly, and behaves as the profile says.

DESIGN §5 item 2: mbind(MPOL_BIND, {private}) on anonymous memory, then write faults, land
on the private node, every page (no leak-out). Item 4's open questions (set_mempolicy
naming the node, masks that mix it with normal nodes, migration onto it, the node full
under BIND, page cache under a policy naming it) are answered by the profile's [private]
table, read by fixtures/oracle/private.py. The node comes from the provider the topology
preset names (fixtures/private/providers.py): under `kernel` on a kernel without the series every
case is `unsupported`; under `cpuset-fence` the cases run as the consumer; under
`unprotected` they check what a stock kernel does with a plain CPU-less node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import oracle
from fixtures.matrix.common import first_cpu
from fixtures.matrix.private_nodes import (
    ExplicitCase,
    MigrationCase,
    PrivateCase,
    private_cases,
)
from fixtures.oracle import private as private_oracle
from fixtures.oracle.private import PrivateRules, Refused
from fixtures.plugin.checks import (
    check_readback,
    observed_outcome,
    policy_features,
    require,
    require_private_node,
)
from fixtures.plugin.verdicts import CaseRecord
from fixtures.private.leaks import leak_out
from fixtures.private.providers import PrivateNode, user_tasks
from fixtures.private.setup import scratch_fixture
from fixtures.profiles import Profile
from fixtures.system.child import run_in_child
from fixtures.system.memory import PAGE_SIZE
from fixtures.system.topology import Topology
from fixtures.workloads.private import (
    ExplicitRun,
    bind_beyond_node,
    mbind_then_fault,
    migrate_onto,
    page_cache_under_bind,
    task_policy_then_fault,
)

PAGES = 255  # odd: an interleave that starts on the wrong node shows in the counts
BEYOND_PAGES = 8192  # BIND to the node with this many pages more than it has (32 MiB)


MATRIX = {"private_case": private_cases}


scratch = scratch_fixture(size_mib=256)  # page cache for the page-cache-bind cases


def _record(case: CaseRecord, c: PrivateCase, pn: PrivateNode, rules: PrivateRules) -> None:
    case.params = {**c.params(), "provider": pn.provider, "rules": rules.profile}


def _check_run(
    case: CaseRecord,
    expected: oracle.Expectation | Refused,
    run: ExplicitRun,
    node: int,
    *,
    leak: bool = False,
) -> None:
    """Refusals against refusals, placements against placements; with `leak` (a policy
    naming only the private node) the pages elsewhere are recorded as leak-out."""
    case.expected = expected.to_json()
    case.observed = {"pages": {str(n): c for n, c in run.counts.items()}}
    if run.refused:
        case.observed["errno"] = run.refused
    elif leak:
        case.observed["leak"] = leak_out(run.per_page, node)
    if isinstance(expected, Refused):
        assert run.refused == expected.errno, (
            f"expected {expected.errno} ({expected.rule}), "
            f"got {run.refused or 'success with pages ' + str(run.counts)}"
        )
        return
    assert run.refused is None, f"the kernel refused with {run.refused}; expected {expected.rule}"
    problems = expected.violations(run.per_page)
    assert not problems, "; ".join(problems)


def test_private(
    private_case: PrivateCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    request: pytest.FixtureRequest,
    case: CaseRecord,
) -> None:
    """One case of the matrix: the explicit path, a migration, or a node-wide question."""
    require_private_node(private_case.node, private_node)
    _record(case, private_case, private_node, rules)
    if isinstance(private_case, ExplicitCase):
        _explicit(private_case, private_node, rules, topology, profile, kernel_release, case)
    elif isinstance(private_case, MigrationCase):
        _migration(private_case, private_node, rules, case)
    elif private_case.what == "discovery":
        _check_discovery(case, private_node, rules, topology)
    elif private_case.what == "bind-full":
        _check_bind_full(case, private_node, rules, topology)
    else:
        scratch = request.getfixturevalue("scratch")
        _check_page_cache(case, private_node, rules, topology, scratch)


def _explicit(
    explicit_case: ExplicitCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    topology: Topology,
    profile: Profile,
    kernel_release: str,
    case: CaseRecord,
) -> None:
    c, pn = explicit_case, private_node
    case.params["pages"] = PAGES
    require(profile, kernel_release, *policy_features(c.policy))
    effective = private_oracle.effective_policy(c.policy, c.node, rules, pn.discovery)
    if c.api == "set_mempolicy" and rules.set_mempolicy_bind != "allowed":
        effective = Refused(rules.set_mempolicy_bind, "profile: set_mempolicy naming the node")
    fault = task_policy_then_fault if c.api == "set_mempolicy" else mbind_then_fault
    run = observed_outcome(case, run_in_child(lambda: fault(pn, c.policy, PAGES, c.cpu)))
    if c.api == "readback" and not isinstance(effective, Refused):
        check_readback(case, oracle.readback(effective, profile, kernel_release), run)
        return
    if isinstance(effective, Refused):
        _check_run(case, effective, run, c.node)
        return
    bits = oracle.interleave_index_bits(profile, kernel_release)
    expected = private_oracle.no_pressure_placement(
        topology, effective, PAGES, run.vm_pgoff, c.cpu_node, index_bits=bits
    )
    _check_run(case, expected, run, c.node, leak=c.policy.nodes == {c.node})


def _migration(
    migration_case: MigrationCase,
    private_node: PrivateNode,
    rules: PrivateRules,
    case: CaseRecord,
) -> None:
    c, pn = migration_case, private_node
    case.params["pages"] = PAGES
    run = observed_outcome(
        case, run_in_child(lambda: migrate_onto(pn, c.how, c.source, PAGES, c.cpu))
    )
    expected = private_oracle.migration_placement(rules, c.node, c.source, PAGES, pn.discovery)
    case.expected = expected.to_json()
    case.observed = {"pages": {str(n): cnt for n, cnt in run.counts.items()}}
    if run.refused:
        case.observed["errno"] = run.refused
    problems = expected.violations(run.per_page)
    assert not problems, "; ".join(problems) + (f" (call: {run.refused})" if run.refused else "")


def _check_discovery(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology
) -> None:
    case.observed = pn.to_json()
    if pn.provider == "kernel":
        assert pn.discovery is not None
        case.expected = {"constraint": f"private via {list(rules.interfaces)}", "nodes": [pn.node]}
        assert pn.node in pn.discovery.private
    elif pn.provider == "cpuset-fence":
        tasks = user_tasks()
        unfenced = pn.unfenced(tasks)
        case.expected = {
            "constraint": "no user task outside the consumer may use it",
            "nodes": [pn.node],
        }
        case.observed["user_tasks"] = len(tasks)
        case.observed["unfenced"] = [f"{t.pid} {t.comm} {t.cgroup}" for t in unfenced]
        assert not unfenced, f"{len(unfenced)} user tasks may still allocate on node {pn.node}"
    else:
        case.expected = {
            "constraint": "unprotected CPU-less memory node (negative control)",
            "nodes": [pn.node],
        }
        node = topology.nodes[pn.node]
        assert not node.cpus and pn.node in topology.has_memory


def _check_bind_full(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology
) -> None:
    npages = topology.nodes[pn.node].memory_kib * 1024 // PAGE_SIZE + BEYOND_PAGES
    case.params["pages"] = npages
    expected = private_oracle.bind_full(rules)
    case.expected = expected.to_json()
    outcome = run_in_child(lambda: bind_beyond_node(pn, npages), timeout_s=600)
    if outcome.signal or outcome.timed_out:
        case.observed = {"signal": outcome.signal} if outcome.signal else {"timeout": True}
        assert expected.outcome == "oom" and outcome.signal == "SIGKILL", (
            f"{outcome.describe()}; expected: {expected.rule}"
        )
        return
    run = observed_outcome(case, outcome)
    case.observed = {"pages": {str(n): c for n, c in run.counts.items()}}
    assert expected.outcome == "fallback", (
        f"all {npages} pages were placed ({run.counts}) although node {pn.node} has fewer; "
        f"expected: {expected.rule}"
    )
    spilled = sum(c for n, c in run.counts.items() if n != pn.node)
    assert spilled > 0 and sum(run.counts.values()) == npages, (
        f"pages {run.counts}: expected {npages} with the excess on normal nodes"
    )


def _check_page_cache(
    case: CaseRecord, pn: PrivateNode, rules: PrivateRules, topology: Topology, scratch: Path
) -> None:
    npages = 1024
    case.params["pages"] = npages
    case.params["mapping"] = "page_cache"
    run = observed_outcome(
        case,
        run_in_child(lambda: page_cache_under_bind(pn, scratch, npages, first_cpu(topology)[0])),
    )
    expected = private_oracle.page_cache_placement(topology, rules, pn.node, npages)
    _check_run(case, expected, run, pn.node)
