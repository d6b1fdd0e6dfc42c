"""One self-contained HTML page: the runs, the summary by feature, the cases, the failures.

The page fetches nothing (no fonts, scripts or images from anywhere; the style is inlined),
so it can be mailed, attached to a CI job, opened offline or printed. Everything taken from
a result document is HTML-escaped: case ids, messages and console lines are data, not markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from reports.differences import differences
from reports.labels import (
    ABSENT_CELL,
    NEEDS_EXPLAINING,
    VERDICT_CELLS,
    case_ids,
    cases_by_id,
    column_labels,
)
from reports.node_picture import has_pages, node_picture, pages_differ
from reports.results import Case, Node, RunDocument, Verdict
from reports.summary import ALL_CASES, FamilyCounts, feature_rows, summary_cell
from reports.table import describe_outcome

STYLE_FILE = Path(__file__).with_name("report.css")  # data, kept out of the code
TITLE = "NUMA memory policy conformance"


@dataclass(frozen=True)
class _Explained:
    """A case worth a closer look in one run, with the anchor its table cell links to."""

    anchor: str
    case: Case
    doc: RunDocument
    label: str


def html_report(docs: Sequence[RunDocument]) -> str:
    """The whole page as text."""
    labels = column_labels(docs)
    explained = _explained(docs, labels)
    body = [
        _header(docs),
        _section("runs", "Runs", _runs(docs, labels)),
        _section("features", "By feature", _summary_table(docs, labels)),
        _section("cases", "By case", _case_table(docs, labels, explained)),
        _section("differences", "Where the kernels differ", _differences(docs)),
        _section("failures", "Failures and differences", _failures(explained)),
        _footer(docs),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(TITLE)}: {escape(', '.join(labels))}</title>",
            f"<style>\n{STYLE_FILE.read_text(encoding='utf-8')}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _differences(docs: Sequence[RunDocument]) -> str:
    lines = differences(docs)
    if not lines:
        return "<p>Every case that ran on several kernels behaved alike.</p>"
    # The Markdown lines, with `ids` as code: one source for both reports.
    items = [
        re.sub(r"`([^`]*)`", r"<code>\1</code>", escape(line.removeprefix("- "))) for line in lines
    ]
    return '<ul class="differences">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'


def _header(docs: Sequence[RunDocument]) -> str:
    cases = [case for doc in docs for case in doc.cases]
    counts = {verdict: sum(case.verdict is verdict for case in cases) for verdict in Verdict}
    tally = " · ".join(
        f"<b>{counts[verdict]}</b> {escape(word)}" for verdict, word in VERDICT_CELLS.items()
    )
    runs = f"{len(docs)} run" + ("" if len(docs) == 1 else "s")
    return f'<header>\n<h1>{escape(TITLE)}</h1>\n<p class="lede">{runs} · {tally}</p>\n</header>'


# --- runs --------------------------------------------------------------------------------


def _runs(docs: Sequence[RunDocument], labels: Sequence[str]) -> str:
    cards = [_run_card(doc, label) for doc, label in zip(docs, labels, strict=True)]
    return '<div class="runs">\n' + "\n".join(cards) + "\n</div>"


def _run_card(doc: RunDocument, label: str) -> str:
    kernel, host, run = doc.kernel, doc.host, doc.run
    ok = run.status == "ok"
    facts = [
        ("kernel", kernel.release),
        ("version", kernel.version),
        ("source", kernel.source),
        ("config", kernel.config_hash or "unknown"),
        ("topology", f"{doc.topology.preset}, {len(doc.topology.nodes)} nodes"),
        ("profile", doc.profile),
        ("host", f"{host.hostname} ({host.machine}), Python {host.python}"),
        ("qemu", host.qemu or "none (bare metal)"),
        ("accel", host.accel or "none (bare metal)"),
        ("started", run.started),
        ("duration", f"{run.duration_s:g} s"),
        ("boot", "none (bare metal)" if run.boot_s is None else f"{run.boot_s:g} s"),
    ]
    rows = "".join(
        f"<dt>{escape(name)}</dt><dd{_mono(name)}>{escape(value)}</dd>" for name, value in facts
    )
    findings = (
        '<ul class="findings">'
        + "".join(f'<li class="mono">{escape(line)}</li>' for line in run.console_findings)
        + "</ul>"
        if run.console_findings
        else '<p class="none">Console: no Oops, BUG, WARNING or panic.</p>'
    )
    status = f'<span class="status {"ok" if ok else "bad"}">{escape(run.status)}</span>'
    return (
        f'<article class="run{"" if ok else " troubled"}">'
        f"<h3><span>{escape(label)}</span>{status}</h3>"
        f"<dl>{rows}</dl>{_nodes_table(doc.topology.nodes)}{findings}</article>"
    )


def _mono(fact: str) -> str:
    return ' class="mono"' if fact in ("config", "source") else ""


def _nodes_table(nodes: Iterable[Node]) -> str:
    head = "<tr><th>node</th><th>kind</th><th>CPUs</th><th>memory</th><th>distances</th></tr>"
    rows = "".join(
        f"<tr><td>N{node.id}</td><td>{escape(node.kind)}</td><td>{_cpus(node.cpus)}</td>"
        f"<td>{_memory(node.memory_kib)}</td>"
        f'<td class="mono">{" ".join(str(node.distances[n]) for n in sorted(node.distances))}</td>'
        "</tr>"
        for node in nodes
    )
    return f'<table class="nodes"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _cpus(cpus: Sequence[int]) -> str:
    """ "0-3,8" for a CPU list; "none" for a CPU-less node."""
    if not cpus:
        return '<span class="none">none</span>'
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][-1] + 1:
            ranges[-1].append(cpu)
        else:
            ranges.append([cpu])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in ranges)


def _memory(kib: int) -> str:
    if kib == 0:
        return '<span class="none">none</span>'
    return f"{kib / 1024:,.0f} MiB"


# --- tables ------------------------------------------------------------------------------


def _verdict_class(verdict: Verdict) -> str:
    return f"verdict {verdict.value}"


def _run_headers(labels: Sequence[str]) -> str:
    return "".join(f'<th class="run" scope="col">{escape(label)}</th>' for label in labels)


def _summary_table(docs: Sequence[RunDocument], labels: Sequence[str]) -> str:
    rows = []
    for row in feature_rows(docs):
        cells = "".join(_summary_td(counts) for counts in row.cells)
        total = ' class="total"' if row.family == ALL_CASES else ""
        rows.append(f'<tr{total}><th scope="row">{escape(row.family)}</th>{cells}</tr>')
    return (
        '<div class="scroll"><table class="matrix summary">'
        f"<thead><tr><th>feature</th>{_run_headers(labels)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _summary_td(counts: FamilyCounts | None) -> str:
    if counts is None:
        return f'<td class="verdict absent">{ABSENT_CELL}</td>'
    return f'<td class="{_verdict_class(counts.worst)}">{escape(summary_cell(counts))}</td>'


def _case_table(
    docs: Sequence[RunDocument], labels: Sequence[str], explained: Sequence[_Explained]
) -> str:
    anchors = {(item.case.id, item.label): item.anchor for item in explained}
    runs = cases_by_id(docs)
    rows = []
    for case_id in case_ids(docs):
        cells = []
        for label, run in zip(labels, runs, strict=True):
            case = run.get(case_id)
            if case is None:
                cells.append(f'<td class="verdict absent">{ABSENT_CELL}</td>')
                continue
            word = escape(VERDICT_CELLS[case.verdict])
            anchor = anchors.get((case_id, label))
            text = f'<a href="#{anchor}">{word}</a>' if anchor else word
            cells.append(f'<td class="{_verdict_class(case.verdict)}">{text}</td>')
        rows.append(f'<tr><th scope="row"><code>{escape(case_id)}</code></th>{"".join(cells)}</tr>')
    legend = "".join(
        f'<span><span class="{_verdict_class(verdict)}">{escape(word)}</span></span>'
        for verdict, word in VERDICT_CELLS.items()
    )
    return (
        '<div class="scroll"><table class="matrix cases">'
        f"<thead><tr><th>case</th>{_run_headers(labels)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<p class="legend">{legend}<span>{ABSENT_CELL} the run has no such case</span>'
        "<span>A linked verdict opens its expected and observed placement below.</span></p>"
    )


# --- failures ----------------------------------------------------------------------------


def _explained(docs: Sequence[RunDocument], labels: Sequence[str]) -> list[_Explained]:
    """Failed and errored cases, and any case whose page counts differ, in table order."""
    runs = cases_by_id(docs)
    found: list[_Explained] = []
    for case_id in case_ids(docs):  # row order, so one case's runs sit together
        for doc, label, run in zip(docs, labels, runs, strict=True):
            case = run.get(case_id)
            if case is not None and (case.verdict in NEEDS_EXPLAINING or pages_differ(case)):
                found.append(_Explained(f"case-{len(found) + 1}", case, doc, label))
    return found


def _failures(explained: Sequence[_Explained]) -> str:
    if not explained:
        return '<p class="none">No case failed or errored, and every page landed as expected.</p>'
    key = (
        '<p class="key">Pages per node:<i class="expected"></i>expected'
        '<i class="observed"></i>observed<i class="differs"></i>observed, differs from expected'
        "</p>"
    )
    return key + "\n".join(_failure(item) for item in explained)


def _failure(item: _Explained) -> str:
    case = item.case
    kind = {Verdict.FAIL: "", Verdict.ERROR: " error"}.get(case.verdict, " differs")
    params = " ".join(
        f"{name}={json.dumps(value, separators=(',', ':'))}" for name, value in case.params.items()
    )
    message = " ".join(case.message.split())
    picture = node_picture(case, item.doc.topology) if has_pages(case) else ""
    return (
        f'<article class="failure{kind}" id="{item.anchor}">'
        f'<h3><span class="{_verdict_class(case.verdict)}">'
        f"{escape(VERDICT_CELLS[case.verdict])}</span>"
        f'<code>{escape(case.id)}</code><span class="on">on {escape(item.label)}</span></h3>'
        + (f'<p class="message">{escape(message)}</p>' if message else "")
        + f'<p class="params mono">{escape(params)}</p>'
        '<dl class="outcomes">'
        f"<dt>expected</dt><dd><code>{escape(describe_outcome(case.expected))}</code></dd>"
        f"<dt>observed</dt><dd><code>{escape(describe_outcome(case.observed))}</code></dd>"
        f"</dl>{picture}</article>"
    )


def _footer(docs: Sequence[RunDocument]) -> str:
    files = "".join(f'<li class="mono">{escape(str(doc.path))}</li>' for doc in docs)
    return f"<footer>Made by <code>python -m reports</code> from:<ul>{files}</ul></footer>"
