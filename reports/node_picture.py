"""Expected against observed pages, per node, as HTML bars: where the pages went at a glance.

One pair of bars per node, expected above observed, widths proportional to the largest count
of the picture, the numbers beside them; an observed count that differs from the expected one
is drawn red. A side with no page counts (an errno, a signal, a case that never got there)
has no bars, and the text says what it had instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from reports.results import Case, Topology
from reports.table import ABSENT_CELL, describe_outcome


def pages_differ(case: Case) -> bool:
    """Both sides have page counts and they are not the same."""
    expected = case.expected.pages if case.expected else None
    observed = case.observed.pages if case.observed else None
    return expected is not None and observed is not None and expected != observed


def has_pages(case: Case) -> bool:
    return any(outcome and outcome.pages is not None for outcome in (case.expected, case.observed))


def node_picture(case: Case, topology: Topology) -> str:
    """The bars of one case on one run's topology; every node of the topology is drawn, so a
    node that got nothing shows as empty rather than vanishing."""
    expected = case.expected.pages if case.expected else None
    observed = case.observed.pages if case.observed else None
    kinds = {node.id: node.kind for node in topology.nodes}
    nodes = sorted(set(kinds) | set(expected or {}) | set(observed or {}))
    largest = max([*(expected or {}).values(), *(observed or {}).values(), 0])
    rows = []
    for node in nodes:
        kind = kinds.get(node, "not in topology")
        rows.append(
            f'<div class="node">N{node} <small>{escape(kind)}</small></div>'
            + _side("expected", expected, node, largest, None, case)
            + _side("observed", observed, node, largest, expected, case)
        )
    return '<div class="picture">' + '<div class="gap"></div>'.join(rows) + "</div>"


def _side(
    name: str,
    pages: Mapping[int, int] | None,
    node: int,
    largest: int,
    compare_with: Mapping[int, int] | None,
    case: Case,
) -> str:
    label = f'<div class="side">{name}</div>'
    if pages is None:
        outcome = case.expected if name == "expected" else case.observed
        instead = ABSENT_CELL if outcome is None else describe_outcome(outcome)
        return label + f'<div class="track"><span class="count none">{escape(instead)}</span></div>'
    count = pages.get(node, 0)
    differs = compare_with is not None and compare_with.get(node, 0) != count
    width = 0.0 if largest == 0 else 100 * count / largest
    classes = f"bar {name}" + (" differs" if differs else "") + (" zero" if count == 0 else "")
    count_class = "count differs" if differs else "count"
    # The bar shares its track with the number, so 85% leaves the number room at full width.
    return (
        label
        + '<div class="track">'
        + f'<div class="{classes}" style="width: {0.85 * width:.1f}%"></div>'
        + f'<span class="{count_class}">{count:,}</span>'
        + "</div>"
    )
