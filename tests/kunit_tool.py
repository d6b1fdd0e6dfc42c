"""The kernel's own KTAP parser (tools/testing/kunit/kunit_parser.py), fetched for tests.

It comes from Debian's linux-source-6.12 package, unpacked once into the suite's cache;
only the kunit tool's folder is kept. Nothing of it is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "mempolicy-conformance" / "kunit"
PACKAGE = "linux-source-6.12"
MEMBER_PREFIX = "linux-source-6.12/tools/testing/kunit/"


def kunit_tool_dir() -> Path | None:
    """The folder holding kunit.py, fetching it if apt can; None when it cannot be had."""
    # kunit.py finds the kernel tree from its own path: it must end in tools/testing/kunit.
    tool = CACHE / MEMBER_PREFIX.rstrip("/")
    if (tool / "kunit_parser.py").exists():
        return tool
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        download = ["apt-get", "download", "-o", "APT::Sandbox::User=root", PACKAGE]
        if subprocess.run(download, cwd=work, capture_output=True).returncode != 0:
            return None
        (deb,) = work.glob(f"{PACKAGE}_*.deb")
        subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True)
        (tarball,) = (work / "root" / "usr" / "src").glob(f"{PACKAGE}.tar.*")
        (work / "src").mkdir()
        # tar reads the 150 MB archive once, far faster than Python's tarfile.
        extract = [
            "tar",
            "-xf",
            str(tarball),
            "-C",
            str(work / "src"),
            "--wildcards",
            f"{MEMBER_PREFIX}*",
        ]
        subprocess.run(extract, check=True)
        tool.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tool, ignore_errors=True)
        shutil.move(str(work / "src" / MEMBER_PREFIX.rstrip("/")), tool)
    return tool
