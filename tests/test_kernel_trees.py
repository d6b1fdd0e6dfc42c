"""vm/kernel_trees.py without a network: a Debian linux-source package, built here with
dpkg-deb around a tiny tarball, fetched through the stub apt of tests/test_kernels.py and
unpacked by the real dpkg and tar. apt-cache-policy-linux-source-7.3.txt is apt-cache's
answer with the trixie-backports configuration in November 2026.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.test_kernels import DATA, FakeApt, build_deb, fake_apt, needs_dpkg
from vm.apt import apt_for
from vm.errors import InfraError, UserError
from vm.kernel_trees import debian_source_trees, fetch_debian_source
from vm.kernels import STAMP_NAME

__all__ = ["fake_apt"]  # the fixture, imported for its side effect on pytest

PACKAGE = "linux-source-7.3"
SUITE = "trixie-backports"


def offer_source(tmp_path: Path, fake_apt: FakeApt, version: str) -> None:
    top = tmp_path / "src" / version / PACKAGE
    (top / "mm").mkdir(parents=True)
    (top / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\n")
    (top / "mm/mempolicy.c").write_text("/* */\n")
    tarball = tmp_path / "src" / version / f"{PACKAGE}.tar.xz"
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(top.parent), PACKAGE], check=True)
    for older in fake_apt.pool.glob(f"{PACKAGE}_*.deb"):
        older.unlink()  # the archive keeps only the candidate
    fake_apt.offer(
        build_deb(
            tmp_path / version,
            PACKAGE,
            version,
            {f"usr/src/{PACKAGE}.tar.xz": tarball.read_bytes()},
        )
    )
    policy = (DATA / "apt-cache-policy-linux-source-7.3.txt").read_text()
    folder = fake_apt.answers / SUITE
    folder.mkdir(exist_ok=True)
    (folder / f"policy-{PACKAGE}.txt").write_text(policy.replace("7.3.4-1~bpo13+1", version))


def downloads(fake_apt: FakeApt) -> int:
    return sum(" download " in call for call in fake_apt.calls("apt-get"))


def test_tree_names_are_data() -> None:
    trees = debian_source_trees()
    assert trees["7.3"].package == PACKAGE
    assert trees["7.3"].suite is not None and trees["7.3"].suite.suite == SUITE
    assert trees["6.12"].suite is None  # bookworm-security, in the host's apt


def test_unknown_tree_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        fetch_debian_source("debian-source:9.9", cache_dir=tmp_path)
    assert str(raised.value) == (
        "unknown kernel tree debian-source:9.9 (known: debian-source:6.12, debian-source:7.3)"
    )


@needs_dpkg
def test_source_is_fetched_unpacked_once_and_stamped(tmp_path: Path, fake_apt: FakeApt) -> None:
    offer_source(tmp_path, fake_apt, "7.3.4-1~bpo13+1")
    cache = tmp_path / "cache"
    tree = fetch_debian_source("debian-source:7.3", cache_dir=cache)
    version_dir = cache / "debian-source" / PACKAGE / "7.3.4-1_bpo13_1"
    assert tree == version_dir / PACKAGE
    assert (tree / "mm/mempolicy.c").is_file()
    stamp = json.loads((version_dir / STAMP_NAME).read_text())
    assert (stamp["package"], stamp["version"]) == (PACKAGE, "7.3.4-1~bpo13+1")
    assert sorted(p.name for p in version_dir.iterdir()) == [STAMP_NAME, PACKAGE]  # no .deb
    # The suite's own apt: lists fetched first, then the download, with its options.
    options = " ".join(apt_for(debian_source_trees()["7.3"].suite, cache_dir=cache).options)
    assert fake_apt.calls("apt-get") == [
        f"noninteractive -q {options} update",
        f"noninteractive -q {options} download {PACKAGE}",
    ]
    # Warm: nothing fetched again.
    assert fetch_debian_source("debian-source:7.3", cache_dir=cache) == tree
    assert downloads(fake_apt) == 1


@needs_dpkg
def test_half_extracted_tree_is_redone(tmp_path: Path, fake_apt: FakeApt) -> None:
    offer_source(tmp_path, fake_apt, "7.3.4-1~bpo13+1")
    cache = tmp_path / "cache"
    tree = fetch_debian_source("debian-source:7.3", cache_dir=cache)
    (tree.parent / STAMP_NAME).unlink()  # as if killed during tar
    leftover = tree / "leftover.o"
    leftover.write_text("from the interrupted run")
    assert fetch_debian_source("debian-source:7.3", cache_dir=cache) == tree
    assert downloads(fake_apt) == 2
    assert not leftover.exists()


@needs_dpkg
def test_a_new_version_replaces_the_old(tmp_path: Path, fake_apt: FakeApt) -> None:
    offer_source(tmp_path, fake_apt, "7.3.4-1~bpo13+1")
    cache = tmp_path / "cache"
    old = fetch_debian_source("debian-source:7.3", cache_dir=cache)
    offer_source(tmp_path, fake_apt, "7.3.5-1~bpo13+1")
    new = fetch_debian_source("debian-source:7.3", cache_dir=cache)
    assert new.parent.name == "7.3.5-1_bpo13_1"
    assert not old.exists()


@needs_dpkg
def test_a_second_fetch_waits_for_the_lock(tmp_path: Path, fake_apt: FakeApt) -> None:
    offer_source(tmp_path, fake_apt, "7.3.4-1~bpo13+1")
    cache = tmp_path / "cache"
    package_dir = cache / "debian-source" / PACKAGE
    package_dir.mkdir(parents=True)
    results: list[Path] = []
    with (package_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process filling the entry
        fetch = threading.Thread(
            target=lambda: results.append(fetch_debian_source("debian-source:7.3", cache_dir=cache))
        )
        fetch.start()
        time.sleep(0.5)
        assert downloads(fake_apt) == 0 and not results
        fcntl.flock(lock, fcntl.LOCK_UN)
    fetch.join(timeout=30)
    assert results and (results[0] / "Makefile").is_file()


def test_no_source_package_even_after_update_is_an_infra_error(
    tmp_path: Path, fake_apt: FakeApt
) -> None:
    with pytest.raises(InfraError) as raised:
        fetch_debian_source("debian-source:7.3", cache_dir=tmp_path / "cache")
    assert str(raised.value) == (
        f"apt for {SUITE} knows no {PACKAGE} for debian-source:7.3; check the apt sources"
    )
