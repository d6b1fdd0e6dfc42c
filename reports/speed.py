"""How fast one run went: per area, cases, seconds and cases per second; the time the
guest spent outside cases (collection, module fixtures, reporting); and the boot.

It reads a result document checked by reports/results.py, as every report does: each case
carries its area and its duration (setup, call and teardown), the run record carries
`boot_s` (kernel start to the suite's start) and `suite_s` (the suite's start to its end),
both measured in the guest.
"""

from __future__ import annotations

from collections import defaultdict

from reports.results import RunDocument


def _rate(cases: int, seconds: float) -> str:
    return f"{cases / seconds:.1f}" if seconds > 0 else "-"


def speed_table(document: RunDocument) -> str:
    """The benchmark table of one run, as Markdown."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for case in document.cases:
        seconds[case.area] += case.duration_s
        counts[case.area] += 1
    lines = [
        f"{document.kernel.release} · {document.topology.preset} · "
        f"{document.host.accel or 'no VM'}",
        "",
        "| area | cases | seconds | cases/s |",
        "|---|---:|---:|---:|",
    ]
    for area in sorted(seconds, key=lambda a: -seconds[a]):
        lines.append(
            f"| {area} | {counts[area]} | {seconds[area]:.1f} | "
            f"{_rate(counts[area], seconds[area])} |"
        )
    in_cases = sum(seconds.values())
    total = sum(counts.values())
    lines.append(f"| **all cases** | {total} | {in_cases:.1f} | {_rate(total, in_cases)} |")
    run = document.run
    lines.append("")
    if run.continued:
        # The guest's own figures below are its first boot's; the cases are every boot's.
        lines.append(
            f"- continued after a crash in {len(run.continued)} more boot(s) "
            f"({', '.join(run.continued)}): the suite and boot figures are the first boot's"
        )
    if run.suite_s is not None:
        lines.append(
            f"- suite in the guest: {run.suite_s:.1f} s ({_rate(total, run.suite_s)} cases/s)"
        )
    if run.suite_s is not None and not run.continued:
        lines.append(
            f"- outside cases (start, collection, reporting): {run.suite_s - in_cases:.1f} s"
        )
    if run.boot_s is not None:
        lines.append(f"- boot (kernel start to the suite's start): {run.boot_s:.1f} s")
    if run.first_case_s is not None:  # phase by phase in the run folder's boot.json
        lines.append(f"- boot to the first case (kernel start on): {run.first_case_s:.1f} s")
    if run.children:
        direct = {k: v for k, v in run.children.items() if k != "worker"}
        lines.append(
            f"- children: {run.children.get('worker', 0)} from the worker, "
            f"{sum(direct.values())} forked directly"
        )
        for why, count in sorted(direct.items(), key=lambda kv: -kv[1]):
            lines.append(f"  - {count} × {why.removeprefix('direct: ')}")
    if run.python:
        lines.append(f"- Python in the guest: {run.python}")
    lines.append(f"- wall time on the host: {run.duration_s:.1f} s")
    if run.host_other_cpu_s is not None:  # vm/host_load.py: did the run have the host?
        cores = f" of {run.host_cores} cores" if run.host_cores else ""
        lines.append(
            f"- host CPU beside the guest: {run.host_other_cpu_s:.1f} s{cores}"
            f" over the wall time, steal {run.host_steal_s or 0.0:.1f} s"
            " (figures compare only between runs that had the host to themselves)"
        )
    if run.guest_fault_us is not None:  # vm/yardstick.py: a slow host without steal shows here
        lines.append(
            f"- a page fault in the guest, after the cases: {run.guest_fault_us:.1f} µs"
            " (one kernel's figures compare between runs at similar values)"
        )
    return "\n".join(lines) + "\n"
