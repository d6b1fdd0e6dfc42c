"""A Debian kernel source tree by name: `--kernel debian-source:<name>`, the tree to build.

The package (linux-source-X, from the host's apt or a suite's own, see vm/apt.py) holds
usr/src/linux-source-X.tar.xz. It is unpacked once per version into
<cache>/debian-source/<package>/<version>/<package>, a stamp written after a complete
extraction; older versions of the same package are removed then (1.5 GB each).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vm.apt import Apt, AptSuite, apt_for, load_suites
from vm.errors import InfraError, UserError
from vm.kernels import (
    KERNEL_SOURCES_FILE,
    STAMP_NAME,
    download_deb,
    load_kernel_sources,
    run_checked,
    suite_of,
)
from vm.locking import locked

SOURCE_PREFIX = "debian-source:"


@dataclass(frozen=True)
class DebianSourceTree:
    name: str  # as in debian-source:<name>
    description: str
    package: str  # e.g. linux-source-7.3, holding usr/src/linux-source-7.3.tar.xz
    suite: AptSuite | None  # None: the host's apt


def debian_source_trees(path: Path = KERNEL_SOURCES_FILE) -> dict[str, DebianSourceTree]:
    data = load_kernel_sources(path)
    suites = load_suites(data)
    return {
        name: DebianSourceTree(
            name=name,
            description=entry["description"],
            package=entry["package"],
            suite=suite_of(entry, suites),
        )
        for name, entry in data.get("debian-source", {}).items()
    }


def is_debian_source(spec: str) -> bool:
    return spec.startswith(SOURCE_PREFIX)


def find_debian_source(spec: str) -> DebianSourceTree:
    """The tree `spec` (debian-source:<name>) names, or a UserError listing the known ones."""
    trees = debian_source_trees()
    name = spec.removeprefix(SOURCE_PREFIX)
    if name not in trees:
        known = ", ".join(SOURCE_PREFIX + known_name for known_name in trees)
        raise UserError(f"unknown kernel tree {spec} (known: {known})")
    return trees[name]


def fetch_debian_source(spec: str, *, cache_dir: Path) -> Path:
    """The top folder of the tree `spec` (debian-source:<name>) names, fetched if needed."""
    tree = find_debian_source(spec)
    if shutil.which("apt-cache") is None:
        raise UserError(
            f"{spec} needs apt (apt-get, apt-cache, dpkg); on this host give a kernel tree path"
        )
    base = cache_dir / "debian-source"
    base.mkdir(parents=True, exist_ok=True)
    log_file = base / "apt-get.log"
    apt = apt_for(tree.suite, cache_dir=cache_dir)
    version = apt.candidate(tree.package)
    if version is None:
        apt.update(log_file=log_file)  # lists missing or stale
        version = apt.candidate(tree.package)
    if version is None:
        raise InfraError(f"{apt.label} knows no {tree.package} for {spec}; check the apt sources")
    package_dir = base / tree.package
    package_dir.mkdir(exist_ok=True)
    version_dir = package_dir / _safe(version)
    top = version_dir / tree.package
    with locked(package_dir / ".lock"):
        # A stamp without its tree means someone pruned it by hand: fetch again.
        if not ((version_dir / STAMP_NAME).is_file() and (top / "Makefile").is_file()):
            _download_and_unpack(apt, tree.package, version_dir, log_file=log_file)
        for stale in package_dir.iterdir():
            if stale.is_dir() and stale != version_dir:
                shutil.rmtree(stale, ignore_errors=True)
    return top


def _safe(version: str) -> str:
    """A version as a folder name make is happy with: 7.3.4-1~bpo13+1 -> 7.3.4-1_bpo13_1."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", version)


def _download_and_unpack(apt: Apt, package: str, version_dir: Path, *, log_file: Path) -> None:
    shutil.rmtree(version_dir, ignore_errors=True)
    version_dir.mkdir()
    started = time.monotonic()
    deb = download_deb(apt, package, version_dir, log_file=log_file)
    downloaded = time.monotonic()
    version = run_checked(["dpkg-deb", "--field", str(deb), "Version"]).strip()
    unpacked = version_dir / "deb"
    run_checked(["dpkg", "-x", str(deb), str(unpacked)])
    tarballs = sorted((unpacked / "usr/src").glob(f"{package}.tar.*"))
    if len(tarballs) != 1:
        raise InfraError(f"{package} holds {len(tarballs)} usr/src/{package}.tar.* files, not one")
    extracted = time.monotonic()
    run_checked(["tar", "-xf", str(tarballs[0]), "-C", str(version_dir)])
    if not (version_dir / package / "Makefile").is_file():
        raise InfraError(f"{tarballs[0].name} of {package} holds no {package}/Makefile")
    untarred = time.monotonic()
    stamp = {
        "package": package,
        "version": version,
        "seconds": {
            "download": round(downloaded - started, 1),
            "dpkg_x": round(extracted - downloaded, 1),
            "tar_x": round(untarred - extracted, 1),
        },
    }
    partial_stamp = version_dir / (STAMP_NAME + ".partial")
    partial_stamp.write_text(json.dumps(stamp) + "\n")
    partial_stamp.rename(version_dir / STAMP_NAME)
    shutil.rmtree(unpacked)
    deb.unlink()
