"""Complete the guest's result document with what only the host knows.

The guest knows the kernel it ran and the cases; the host knows where the kernel came
from, its config, the machine, QEMU and how the VM ended.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from reports.document import ResultDocument
from vm.host import qemu_version
from vm.kernels import Kernel
from vm.runner import GuestRun


def config_hash(config: Path | None) -> str | None:
    if config is None or not config.is_file():
        return None
    return "sha256:" + hashlib.sha256(config.read_bytes()).hexdigest()


def host_facts(accel: str) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "qemu": qemu_version(),
        "accel": accel,
    }


def annotate(
    document: ResultDocument, run: GuestRun, kernel: Kernel, *, accel: str, started: float
) -> ResultDocument:
    """The guest's document of `run`, completed with what the host knows."""
    document.kernel["source"] = kernel.source
    document.kernel["config_hash"] = config_hash(kernel.config)
    document.host = host_facts(accel)
    document.run = {
        **document.run,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(run.wall_s, 1),
        "boot_s": round(run.boot_s, 1) if run.boot_s is not None else None,
        "suite_s": round(run.suite_s, 1) if run.suite_s is not None else None,
        "first_case_s": round(run.first_case_s, 1) if run.first_case_s is not None else None,
        "host_cores": os.cpu_count(),
        "host_other_cpu_s": run.host_other_cpu_s,
        "host_steal_s": run.host_steal_s,
        "guest_fault_us": run.guest_fault_us,
        "status": run.status,
        "console_findings": list(run.crashes),
        "run_dir": str(run.run_dir),
    }
    return document
