"""Applying a patch series to a copy of a tree: a small mbox and a fake tree, no kernel."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from vm import series as series_module
from vm.errors import UserError
from vm.series import (
    Reject,
    find_port,
    load_port,
    prepare_series_tree,
    read_series,
    series_key,
    tree_version,
)

SHARED_MBOX = Path(__file__).resolve().parents[2] / "shared/series/private-memory-nodes-v4.mbox"
MESSAGE_ID = "cover@example.org"

ORIGINAL = "".join(f"line {n}\n" for n in range(1, 31))


def _message(number: int, total: int, body: str, message_id: str) -> str:
    return (
        textwrap.dedent(
            f"""\
        From nobody Mon Sep 17 00:00:00 2001
        From: Dev <dev@example.org>
        Subject: [RFC PATCH v1 {number}/{total}] part {number}
        Message-ID: <{message_id}>

        """
        )
        + body
        + "\n"
    )


def _diff(path: str, old: str, new: str, at: int) -> str:
    return (
        f"---\ndiff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -{at},7 +{at},7 @@\n"
        + "".join(f" line {n}\n" for n in range(at, at + 3))
        + f"-{old}\n+{new}\n"
        + "".join(f" line {n}\n" for n in range(at + 4, at + 7))
    )


def write_mbox(path: Path, diffs: list[str]) -> Path:
    total = len(diffs)
    text = _message(0, total, "the cover letter\n", MESSAGE_ID)
    for number, diff in enumerate(diffs, 1):
        text += _message(number, total, diff, f"p{number}@example.org")
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    (root / "mm").mkdir(parents=True)
    (root / "drivers").mkdir()
    (root / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\n")
    (root / "mm/a.c").write_text(ORIGINAL)
    (root / "mm/moved.c").write_text(ORIGINAL)
    (root / "drivers/Kconfig").write_text('menu "Device Drivers"\nendmenu\n')
    (root / "drivers/Makefile").write_text("obj-y += base/\n")
    return root


def write_port(
    port_dir: Path, *, rejects: str = "", renames: str = "", patch: str = "", patches: str = "1-2"
) -> Path:
    port_dir.mkdir(exist_ok=True)
    (port_dir / "p.toml").write_text(
        f'description = "test"\nmessage_id = "{MESSAGE_ID}"\ntree_version = "7.3"\n'
        f'patches = "{patches}"\nfuzz = 2\nprovider = false\nlocalversion = "-t"\n'
        f"rejects = [{rejects}]\n{renames}"
    )
    (port_dir / "p.patch").write_text(patch)
    return port_dir / "p.toml"


def test_reads_the_cover_letter_and_numbered_patches(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "s.mbox", [_diff("mm/a.c", "line 5", "five", 2)] * 2)
    series = read_series(mbox)
    assert series.message_id == MESSAGE_ID
    assert series.total == 2
    assert [p.number for p in series.patches] == [1, 2]
    assert "part 1" in series.patches[0].subject


def test_applies_and_records_the_series(tmp_path: Path, tree: Path) -> None:
    mbox = write_mbox(
        tmp_path / "s.mbox",
        [_diff("mm/a.c", "line 5", "five", 2), _diff("mm/a.c", "line 20", "twenty", 17)],
    )
    series = read_series(mbox)
    result = prepare_series_tree(tree, series, None, cache_dir=tmp_path / "cache")
    text = (result.tree / "mm/a.c").read_text()
    assert "five\n" in text and "twenty\n" in text
    assert (tree / "mm/a.c").read_text() == ORIGINAL  # the user's tree is never touched
    record = json.loads((result.tree / series_module.STAMP_NAME).read_text())
    assert record["message_id"] == MESSAGE_ID and record["patches_applied"] == [1, 2]
    assert record["patches_in_series"] == 2 and record["port"] is None


def test_a_second_run_reuses_the_copy(tmp_path: Path, tree: Path) -> None:
    series = read_series(write_mbox(tmp_path / "s.mbox", [_diff("mm/a.c", "line 5", "x", 2)]))
    first = prepare_series_tree(tree, series, None, cache_dir=tmp_path / "cache")
    (first.tree / "mm/a.c").write_text("edited by the developer\n")
    again = prepare_series_tree(tree, series, None, cache_dir=tmp_path / "cache")
    assert again.tree == first.tree
    assert (again.tree / "mm/a.c").read_text() == "edited by the developer\n"


def test_a_patch_that_does_not_apply_names_patch_and_file(tmp_path: Path, tree: Path) -> None:
    bad = _diff("mm/a.c", "no such line", "x", 2).replace(" line 2\n", " other 2\n", 1)
    bad = bad.replace(" line 3\n", " other 3\n").replace(" line 4\n", " other 4\n")
    series = read_series(write_mbox(tmp_path / "s.mbox", [_diff("mm/a.c", "line 5", "x", 2), bad]))
    port_file = write_port(tmp_path / "ports")
    with pytest.raises(UserError, match=r"patch 0002 does not apply: hunk #1 of mm/a.c"):
        prepare_series_tree(tree, series, load_port(port_file), cache_dir=tmp_path / "cache")
    finished = [p for p in (tmp_path / "cache").glob("*-series-*") if p.is_dir()]
    assert [p.name for p in finished if not p.name.endswith(".partial")] == []  # no copy


def test_a_missing_file_is_named(tmp_path: Path, tree: Path) -> None:
    series = read_series(write_mbox(tmp_path / "s.mbox", [_diff("mm/gone.c", "line 5", "x", 2)]))
    with pytest.raises(UserError, match=r"patch 0001 .* names mm/gone.c"):
        prepare_series_tree(tree, series, None, cache_dir=tmp_path / "cache")


def test_port_renames_carries_rejects_and_adds_nothing_else(tmp_path: Path, tree: Path) -> None:
    conflicting = _diff("mm/a.c", "line 12", "twelve", 9).replace(" line 9\n", " nine\n")
    conflicting = conflicting.replace(" line 10\n", " ten\n").replace(" line 11\n", " eleven\n")
    conflicting = conflicting.replace(" line 13\n", " x13\n").replace(" line 14\n", " x14\n")
    conflicting = conflicting.replace(" line 15\n", " x15\n")
    series = read_series(
        write_mbox(tmp_path / "s.mbox", [_diff("mm/old.c", "line 5", "five", 2), conflicting])
    )
    port_patch = _diff("mm/a.c", "line 12", "twelve (ported)", 9).removeprefix("---\n")
    port_file = write_port(
        tmp_path / "ports",
        rejects='{ patch = 2, file = "mm/a.c", hunk = 1 }',
        renames='[[renames]]\npatch = 1\nfrom = "mm/old.c"\nto = "mm/moved.c"\n',
        patch="# the comment that says what changed upstream\n" + port_patch,
    )
    port = load_port(port_file)
    assert port.rejects == frozenset({Reject(2, "mm/a.c", 1)})
    result = prepare_series_tree(tree, series, port, cache_dir=tmp_path / "cache")
    assert "five\n" in (result.tree / "mm/moved.c").read_text()
    assert "twelve (ported)\n" in (result.tree / "mm/a.c").read_text()
    assert not list(result.tree.rglob("*.rej")) and not list(result.tree.rglob("*.orig"))
    assert result.record()["port"] == {"name": "p", "sha256": port.sha256()}
    assert (result.tree / series_module.LOCALVERSION_FILE).read_text() == "-t\n"


def test_a_port_that_carries_a_hunk_which_applied_is_refused(tmp_path: Path, tree: Path) -> None:
    series = read_series(write_mbox(tmp_path / "s.mbox", [_diff("mm/a.c", "line 5", "x", 2)]))
    port_file = write_port(
        tmp_path / "ports", rejects='{ patch = 1, file = "mm/a.c", hunk = 1 }', patches="1"
    )
    with pytest.raises(UserError, match="applied, but the port p carries it too"):
        prepare_series_tree(tree, series, load_port(port_file), cache_dir=tmp_path / "cache")


def test_a_port_that_does_not_apply_is_named(tmp_path: Path, tree: Path) -> None:
    series = read_series(write_mbox(tmp_path / "s.mbox", [_diff("mm/a.c", "line 5", "x", 2)]))
    port_file = write_port(
        tmp_path / "ports",
        patch=_diff("mm/a.c", "line 25", "y", 22).replace(" line 22", " z"),
        patches="1",
    )
    with pytest.raises(UserError, match=r"the port p.patch does not apply to mm/a.c"):
        prepare_series_tree(tree, series, load_port(port_file), cache_dir=tmp_path / "cache")


def test_the_key_follows_the_mbox_and_the_port(tmp_path: Path, tree: Path) -> None:
    one = read_series(write_mbox(tmp_path / "1.mbox", [_diff("mm/a.c", "line 5", "x", 2)]))
    two = read_series(write_mbox(tmp_path / "2.mbox", [_diff("mm/a.c", "line 5", "y", 2)]))
    port = load_port(write_port(tmp_path / "ports"))
    keys = {series_key(tree, one, None), series_key(tree, two, None), series_key(tree, one, port)}
    assert len(keys) == 3


def test_provider_is_hooked_into_the_driver_build(tmp_path: Path, tree: Path) -> None:
    series_module.add_provider(tree)
    assert (tree / "drivers/mpol_private_node/mpol_private_node.c").is_file()
    kconfig = (tree / "drivers/Kconfig").read_text().splitlines()
    assert kconfig[-2:] == [series_module.PROVIDER_KCONFIG_LINE, "endmenu"]
    assert series_module.PROVIDER_MAKEFILE_LINE in (tree / "drivers/Makefile").read_text()
    series_module.add_provider(tree)  # idempotent
    assert (tree / "drivers/Kconfig").read_text().count("mpol_private_node") == 1


def test_no_patches_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty.mbox").write_text(_message(1, 1, "just words\n", "x@example.org"))
    with pytest.raises(UserError, match="no patches in"):
        read_series(tmp_path / "empty.mbox")


def test_the_v4_mbox_and_its_port_to_7_3() -> None:
    if not SHARED_MBOX.is_file():
        pytest.skip(f"the shared series is not at {SHARED_MBOX}")
    series = read_series(SHARED_MBOX)
    assert series.message_id == "20260222084842.1824063-1-gourry@gourry.net"
    assert series.total == 27 and len(series.patches) == 27
    port = find_port(series, "7.3")
    assert port is not None and port.patches == tuple(range(1, 23))
    assert find_port(series, "6.12") is None
    # Every rejected hunk the port declares has a comment-led section in the port patch.
    sections = port.patch_file.read_text().count("\n--- a/")
    assert sections >= len({(r.patch, r.file) for r in port.rejects}) - 5


def test_tree_version(tree: Path) -> None:
    assert tree_version(tree) == "7.3"


# The real linux-source-7.3 (see the README): applying the real mbox and port, no compile.
REAL_TREE_GLOB = "debian-source/linux-source-7.3/*/linux-source-7.3"


def test_the_real_series_applies_to_the_real_7_3(tmp_path: Path) -> None:
    cache = Path.home() / ".cache/mempolicy-conformance/kernels"
    found = sorted(cache.glob(REAL_TREE_GLOB))
    if not found or not SHARED_MBOX.is_file():
        pytest.skip(f"no linux-source-7.3 under {cache} (fetch: --kernel debian-source:7.3)")
    series = read_series(SHARED_MBOX)
    port = find_port(series, tree_version(found[-1]))
    assert port is not None
    result = prepare_series_tree(found[-1], series, port, cache_dir=tmp_path)
    internal = (result.tree / "mm/internal.h").read_text()
    assert "folio_managed_on_free" in internal and "pte_swp_uffd_wp" not in internal
    assert (result.tree / "drivers/mpol_private_node/Kconfig").is_file()
    shutil.rmtree(result.tree)
