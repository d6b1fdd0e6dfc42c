"""Where kernels differ: the cases whose verdict, or whose expected errno, is not the same
on every kernel that ran them with one topology.

A difference the oracle expects (a version gate: an errno that changed upstream, a mode
a kernel lacks) passes on both kernels and shows in no failure list, yet it is what a
maintainer comparing kernels looks for. Page counts are left out: they follow addresses,
which differ from boot to boot. Cases that differ in the same way are told once, with a
count, so 18 `unsupported` cases of one missing mode make one line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from reports.labels import column_labels
from reports.results import Case, RunDocument, Verdict


def _what(case: Case) -> str:
    """The part of one run's case that is compared, as a reader wants to see it."""
    if case.verdict in (Verdict.UNSUPPORTED, Verdict.SKIP):
        return f"{case.verdict.value} ({' '.join(case.message.split())})"
    errno = case.expected.errno if case.expected is not None else None
    return f"{case.verdict.value}, expects {errno}" if errno else case.verdict.value


def _rule(case: Case) -> str:
    """The oracle's reason for what it expected, when the document gives one."""
    other = case.expected.other if case.expected is not None and case.expected.other else {}
    rule = other.get("rule")
    return str(rule) if rule else ""


def differences(docs: Sequence[RunDocument]) -> list[str]:
    """One Markdown line per way the kernels differ, per topology."""
    labels = column_labels(docs)
    by_topology: dict[str, list[tuple[str, RunDocument]]] = defaultdict(list)
    for label, doc in zip(labels, docs, strict=True):
        by_topology[doc.topology.preset].append((label, doc))
    lines = []
    for preset, runs in by_topology.items():
        if len({doc.kernel.release for _, doc in runs}) < 2:
            continue
        groups: dict[tuple[tuple[str, str], ...], list[list[Case]]] = defaultdict(list)
        cases = [{case.id: case for case in doc.cases} for _, doc in runs]
        for case_id in dict.fromkeys(cid for run in cases for cid in run):
            present = [
                (label, run[case_id])
                for (label, _), run in zip(runs, cases, strict=True)
                if case_id in run
            ]
            seen = tuple((label, _what(case)) for label, case in present)
            if len(present) > 1 and len({what for _, what in seen}) > 1:
                groups[seen].append([case for _, case in present])
        for seen, group in groups.items():
            kernels = "; ".join(f"{label}: {what}" for label, what in seen)
            shown = ", ".join(f"`{versions[0].id}`" for versions in group[:3])
            more = f" and {len(group) - 3} more" if len(group) > 3 else ""
            # The gated kernel's rule says why ("[... since 6.12: EFAULT here]"): the longest.
            rule = max((_rule(case) for case in group[0]), key=len)
            why = f" Rule: {rule}" if rule else ""
            lines.append(f"- {preset}, {len(group)} case(s) ({shown}{more}): {kernels}.{why}")
    return lines


def differences_section(docs: Sequence[RunDocument]) -> str:
    body = differences(docs) or ["Every case that ran on several kernels behaved alike."]
    return "\n".join(["## Where the kernels differ", "", *body])
