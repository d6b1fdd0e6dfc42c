"""Entry point inside the guest: run the matrix and leave the results as files.

The host reads `status.json` as its side channel: a run that leaves no status file is a
lost VM, whatever the console says.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

NODE_SYSFS = Path("/sys/devices/system/node")


def uptime_s() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def run_matrix(out: Path, repetition: int, extra: list[str]) -> int:
    """One pytest session over the matrix; repetitions after the first get suffixed files.

    Each is its own process, so nothing a session leaves behind leaks into the next.
    """
    suffix = "" if repetition == 1 else f".r{repetition}"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "conformance",
        f"--result-json={out / f'result{suffix}.json'}",
        f"--junitxml={out / f'junit{suffix}.xml'}",
        f"--ktap={out / f'results{suffix}.ktap'}",
        *extra,
    ]
    # The matrix needs no third-party pytest plugin; loading the host's (hypothesis,
    # pytest-benchmark, ...) cost a minute and more of every boot under TCG.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(command, check=False, env=env).returncode


def cannot_run() -> str | None:
    """Why the matrix cannot run in this guest at all, in one line; None when it can."""
    if not NODE_SYSFS.joinpath("online").exists():
        # Without CONFIG_NUMA there is nothing to test; say so instead of a pytest traceback.
        return (
            f"the guest kernel has no {NODE_SYSFS} (built without CONFIG_NUMA?); "
            "boot a kernel built with kernel-configs/numa.config"
        )
    return private_node_problem()


def private_node_problem() -> str | None:
    """Why the private node the command line asks the suite's provider for is not there."""
    from fixtures.system.kmsg import KernelLogWatcher
    from vm.private_range import check_private_node

    watcher = KernelLogWatcher(from_start=True)
    log = "\n".join(watcher.new_lines())
    watcher.close()
    return check_private_node(Path("/proc/cmdline").read_text(), log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, required=True, help="results folder shared with the host"
    )
    parser.add_argument(
        "--bench", action="store_true", help="run the probe benchmark instead of the matrix"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the matrix this many times in this boot"
    )
    parser.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (or the benchmark)"
    )
    args = parser.parse_args(argv)
    boot_s = uptime_s()
    status_file = args.out / "status.json"
    fatal = cannot_run()
    if fatal:
        status_file.write_text(json.dumps({"fatal": fatal, "boot_s": boot_s}) + "\n")
        return 0

    extra = [a for a in args.pytest_args if a != "--"]
    if args.bench:
        from fixtures.system import bench_probe

        status = bench_probe.main([*extra, f"--json={args.out / 'bench.json'}"])
    else:
        status = 0
        for repetition in range(1, args.repeat + 1):
            status = max(status, run_matrix(args.out, repetition, extra))
    status_file.write_text(
        json.dumps({"pytest_exit": int(status), "boot_s": boot_s, "run_s": uptime_s() - boot_s})
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
