"""Entry point inside the guest: run the matrix and leave the results as files.

The host reads `status.json` as its side channel: a run that leaves no status file is a
lost VM, whatever the console says.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
import traceback
from pathlib import Path

from fixtures.knobs import DISCARDED_AFTER_RUN_ENV
from fixtures.system import dataclass_code, module_code
from vm.boot_clock import SuiteClock, boot_record, cached_mounts, read_kmsg, uptime_s
from vm.result_port import guest_destination, ktap_name
from vm.yardstick import fault_cost_us

NODE_SYSFS = Path("/sys/devices/system/node")
CLOCK_FILE = "suite-clock.json"  # the first session's stamps, written by SuiteClock


PYTEST_INI = Path(__file__).resolve().parent.parent / "conformance" / "pytest.ini"
# Plugins the guest has no use for beyond those the ini turns off: no one is at a pdb
# prompt in a guest, and the host writes junit.xml from the result document (which a
# dead guest's salvage has too), where the plugin cost ~1 ms of every case under TCG.
GUEST_ONLY_BLOCKED_PLUGINS = ("debugging", "junitxml")
# Extension modules pytest imports only to do without them here: readline (capture's
# workaround, for interactive use) and OpenSSL's _hashlib (hashlib falls back to its
# built-in hashes). Loading their shared libraries over 9p took ~0.3 s of every boot.
GUEST_UNUSED_MODULES = ("readline", "_hashlib")


def blocked_plugins(ini: Path = PYTEST_INI) -> list[str]:
    """`-p no:NAME` for the ini's disabled plugins and the guest's own, as command-line
    arguments: pytest imports its default plugins before it reads the ini's addopts, so
    only a command-line `-p no:` keeps one from being imported at all."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(ini.read_text())
    words = parser.get("pytest", "addopts", fallback="").split()
    names = [w[len("no:") :] for w in words if w.startswith("no:")]
    return [f"-pno:{name}" for name in dict.fromkeys([*names, *GUEST_ONLY_BLOCKED_PLUGINS])]


def pytest_args(out: Path, repetition: int, extra: list[str]) -> list[str]:
    suffix = "" if repetition == 1 else f".r{repetition}"
    return [
        *blocked_plugins(),
        "conformance",
        f"--result-json={out / f'result{suffix}.json'}",
        f"--ktap={guest_destination(out, ktap_name(repetition))}",
        *extra,
    ]


def block_unused_modules() -> None:
    """Make `import` of GUEST_UNUSED_MODULES fail at once (None in sys.modules), so that
    their importers take their fallback."""
    for name in GUEST_UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _session(args: list[str], plugins: list[object]) -> int:
    """pytest.main in this (forked) process: what `python -m pytest` would do."""
    # The matrix needs no third-party pytest plugin; loading the host's (hypothesis,
    # pytest-benchmark, ...) cost a minute and more of every boot under TCG.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ[DISCARDED_AFTER_RUN_ENV] = "1"  # this guest ends with the run
    block_unused_modules()
    import pytest

    return int(pytest.main(args, plugins=plugins))


def exit_status(wait_status: int) -> int:
    """A shell's exit status of a child: its code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def run_matrix(out: Path, repetition: int, extra: list[str]) -> int:
    """One pytest session over the matrix; repetitions after the first get suffixed files.

    Each runs in a child forked from this process, so nothing a session leaves behind
    leaks into the next, and a session killed (OOM, a signal) still leaves this process
    to write status.json. A fork, not a new interpreter: starting Python again from the
    9p root cost seconds of every boot under TCG.
    """
    plugins: list[object] = []
    if repetition == 1:
        plugins.append(SuiteClock(out / CLOCK_FILE, {"pytest": uptime_s()}))
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = _session(pytest_args(out, repetition, extra), plugins)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    while True:
        try:
            return exit_status(os.waitpid(pid, 0)[1])
        except InterruptedError:
            continue


def write_boot(
    out: Path, stamps: dict[str, float], dataclass_texts: int, modules: int
) -> float | None:
    """boot.json: the boot's phases from the kernel's start to the first case (`stamps`:
    the suite's own so far); returns the first case's start (None when no case started)."""
    clock = out / CLOCK_FILE
    suite = dict(stamps)
    if clock.exists():
        suite.update(json.loads(clock.read_text()))
        clock.unlink()
    kmsg = read_kmsg()
    (out / "kmsg.txt").write_text(kmsg)  # the whole kernel log, whatever the console kept
    record = boot_record(kmsg, suite)
    record["cached_shares"] = cached_mounts(Path("/proc/self/mounts").read_text())
    record["dataclass_texts"] = dataclass_texts  # compiled on the host; 0: compiled here
    record["snapshot_modules"] = modules  # served from the host's snapshot; 0: none
    record["ktap_stream"] = str(guest_destination(out, ktap_name(1)))  # a port, or 9p
    (out / "boot.json").write_text(json.dumps(record, indent=1) + "\n")
    return suite.get("first_case")


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


def main(argv: list[str] | None = None, python_s: float | None = None) -> int:
    """`python_s`: when the guest's Python started (vm.guest_entry); else now."""
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
    python_s = uptime_s() if python_s is None else python_s
    # From here on, the modules the host's collection imported come from its snapshot
    # (vm.guest_entry installs it before this module's imports).
    modules = module_code.install()
    boot_s = uptime_s()
    dataclass_texts = dataclass_code.install()  # before pytest and the suite define theirs
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
    run_s = uptime_s() - boot_s
    # After the cases, so that it costs the first case nothing: the same sitting all the same.
    fault_us = fault_cost_us()
    stamps = {"python": python_s, "guest_main": boot_s}
    first_case_s = write_boot(args.out, stamps, dataclass_texts, modules)
    status_file.write_text(
        json.dumps(
            {
                "pytest_exit": int(status),
                "boot_s": boot_s,
                "run_s": run_s,
                "first_case_s": first_case_s,
                "fault_us": round(fault_us, 2) if fault_us is not None else None,
            }
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
