"""The tree build against a small fake kernel tree (tests/data/fake-tree): configuration
from defconfig plus fragments, the survival check, no rebuild when nothing changed, an
incremental rebuild after a touch, and the one-line errors."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from vm.build import DEFAULT_FRAGMENTS, build_tree
from vm.errors import UserError
from vm.kconfig import FRAGMENT_DIR, parse_config

FAKE_TREE = Path(__file__).parent / "data" / "fake-tree"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the fake tree whose Kconfig knows every symbol of the real fragments."""
    copy = tmp_path / "linux"
    shutil.copytree(FAKE_TREE, copy)
    symbols = {"CONFIG_SMP", "CONFIG_64BIT"}
    for fragment in FRAGMENT_DIR.glob("*.config"):
        symbols |= set(parse_config(fragment.read_text()))
    (copy / "Kconfig.symbols").write_text("".join(f"{s}\n" for s in sorted(symbols)))
    return copy


def build(tree: Path, tmp_path: Path, fragments: tuple[str, ...] = DEFAULT_FRAGMENTS) -> "object":
    return build_tree(tree, cache_dir=tmp_path / "cache", fragments=fragments, jobs=1)


def test_first_build_configures_and_builds(tree: Path, tmp_path: Path) -> None:
    result = build(tree, tmp_path)
    assert result.rebuilt and result.image.exists()
    assert result.release == "6.99.0-fake"
    assert result.describe == "6.99.0-fake (no git)"
    config = parse_config((result.build_dir / ".config").read_text())
    assert config["CONFIG_NUMA"] == "y" and config["CONFIG_SMP"] == "y"
    assert result.fragments == DEFAULT_FRAGMENTS
    assert result.config_hash.startswith("sha256:")


def test_unchanged_tree_is_not_rebuilt_and_a_touch_rebuilds(tree: Path, tmp_path: Path) -> None:
    first = build(tree, tmp_path)
    config_mtime = (first.build_dir / ".config").stat().st_mtime_ns
    second = build(tree, tmp_path)
    assert not second.rebuilt
    assert (second.build_dir / ".config").stat().st_mtime_ns == config_mtime  # not rewritten
    source = tree / "mm" / "mempolicy.c"
    later = time.time_ns() + 2_000_000_000  # newer than the image, like an edit
    os.utime(source, ns=(later, later))
    assert build(tree, tmp_path).rebuilt


def test_other_fragments_get_another_build_folder(tree: Path, tmp_path: Path) -> None:
    plain = build(tree, tmp_path)
    debug = build(tree, tmp_path, (*DEFAULT_FRAGMENTS, "debug-vm.config"))
    assert plain.build_dir != debug.build_dir
    assert parse_config((debug.build_dir / ".config").read_text())["CONFIG_DEBUG_VM"] == "y"


def test_a_git_tree_is_described(tree: Path, tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "fake"], check=True)
    (tree / "mm" / "mempolicy.c").write_text("/* a local change */\n")
    assert build(tree, tmp_path).describe.endswith("-dirty")


def test_option_dropped_by_olddefconfig_is_named(tree: Path, tmp_path: Path) -> None:
    # A tree whose Kconfig cannot give NUMA: olddefconfig drops it, the build stops.
    symbols = tree / "Kconfig.symbols"
    symbols.write_text(symbols.read_text().replace("CONFIG_NUMA\n", ""))
    with pytest.raises(UserError) as raised:
        build(tree, tmp_path)
    message = str(raised.value)
    assert "not all Kconfig options selected" in message
    assert "CONFIG_NUMA=y (is not set)" in message and "\n" not in message


def test_unknown_option_in_a_fragment_is_named(tree: Path, tmp_path: Path) -> None:
    fragment = tmp_path / "typo.config"
    fragment.write_text("# a typo in an option name\nCONFIG_NUMA_BALANCNG=y\n")
    with pytest.raises(UserError, match="CONFIG_NUMA_BALANCNG=y"):
        build(tree, tmp_path, (*DEFAULT_FRAGMENTS, str(fragment)))


def test_not_a_tree(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a Linux kernel tree"):
        build(tmp_path, tmp_path)


def test_unknown_fragment(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown config fragment 'nope.config'"):
        build(tree, tmp_path, ("nope.config",))
