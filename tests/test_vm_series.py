"""The series kernel in a guest: RFC v4 on Linux 7.3 with the suite's provider, booted
with both private presets, and the private node seen for real (issue 10's demonstration).

Building the series kernel takes half an hour on two cores, too long for a test: these
boot it only where it is already built in the cache (`python3 -m tox -e build -- --kernel
debian-source:7.3 --series ...`), and say why they skip where it is not. Marked `vm`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vm.build import DEFAULT_FRAGMENTS, IMAGE, build_dir_for, fragment_paths
from vm.phases import CACHE_DIR
from vm.runner import REPO_ROOT
from vm.series import STAMP_NAME, find_port, read_series, series_copy_for, tree_version

pytestmark = pytest.mark.vm

MBOX = REPO_ROOT.parent / "shared/series/private-memory-nodes-v4.mbox"
SOURCE_TREES = CACHE_DIR / "kernels/debian-source/linux-source-7.3"
BUILD_HINT = f"python3 -m tox -e build -- --kernel debian-source:7.3 --series {MBOX}"


def cached_series_image() -> tuple[Path | None, str]:
    """The built series kernel's image, or None and why it is not there."""
    if not MBOX.is_file():
        return None, f"the series mbox is not at {MBOX}"
    trees = sorted(SOURCE_TREES.glob("*/linux-source-7.3"))
    if not trees:
        return None, f"linux-source-7.3 is not unpacked under {SOURCE_TREES}; {BUILD_HINT}"
    tree = trees[-1]
    series = read_series(MBOX)
    port = find_port(series, tree_version(tree))
    if port is None:
        return None, f"no port of the series to {tree_version(tree)}"
    copy = series_copy_for(tree, series, port, CACHE_DIR / "series")
    if not (copy / STAMP_NAME).is_file():
        return None, f"the series is not applied yet ({copy}); {BUILD_HINT}"
    fragments = fragment_paths((*DEFAULT_FRAGMENTS, *port.fragments))
    image = build_dir_for(copy, fragments, CACHE_DIR / "builds") / IMAGE
    if not image.is_file():
        return None, f"the series kernel is not built ({image}); {BUILD_HINT}"
    return image, ""


def boot(preset: str, tmp: Path) -> dict[str, Any]:
    image, why = cached_series_image()
    if image is None:
        pytest.skip(why)
    command = [
        sys.executable, "-m", "vm", "run", "--kernel", "debian-source:7.3",
        "--series", str(MBOX), "--topology", preset, "--results", str(tmp),
        "--", "-m", "private_nodes", "-k", "discovery or mbind-bind-node2",
    ]  # fmt: skip
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600)
    documents = list(tmp.glob("*.json"))
    assert len(documents) == 1, f"no result document; stderr:\n{finished.stderr[-3000:]}"
    document: dict[str, Any] = json.loads(documents[0].read_text())
    return document


def _cases(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["id"]: case for case in document["cases"]}


def test_private_v4_places_bound_pages_on_the_private_node(tmp_path: Path) -> None:
    document = boot("private-v4", tmp_path)
    assert document["kernel"]["release"].endswith("-private-v4")
    assert document["kernel"]["tree"]["series"]["patches_applied"] == list(range(1, 23))
    nodes = {n["id"]: n for n in document["topology"]["nodes"]}
    assert nodes[2]["kind"] == "private" and nodes[2]["cpus"] == []
    cases = _cases(document)
    discovery = cases["private_nodes-discovery-node2"]
    assert discovery["verdict"] == "pass", discovery["message"]
    assert discovery["observed"]["discovery"]["private"] == [2]
    assert discovery["observed"]["has_memory"] == [0, 1, 2, 3]
    assert discovery["observed"]["memory_kib"] == 256 * 1024
    bound = cases["private_nodes-mbind-bind-node2"]
    assert bound["verdict"] == "pass", bound["message"]
    assert bound["observed"]["pages"] == {"2": 255}


def test_private_v4_closed_refuses_a_policy_naming_the_node(tmp_path: Path) -> None:
    document = boot("private-v4-closed", tmp_path)
    cases = _cases(document)
    discovery = cases["private_nodes-discovery-node2"]
    assert discovery["verdict"] == "pass", discovery["message"]
    assert discovery["observed"]["discovery"]["private"] == [2]
    assert discovery["observed"]["has_memory"] == [0, 1, 3]
    bound = cases["private_nodes-mbind-bind-node2"]
    assert bound["verdict"] == "pass", bound["message"]
    assert bound["observed"]["errno"] == "EINVAL" and bound["observed"]["pages"] == {}
