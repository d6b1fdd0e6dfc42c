"""fixtures/system/reclaim.py: reclaim counters read from /proc/vmstat."""

from __future__ import annotations

from pathlib import Path

from fixtures.system.reclaim import RECLAIM_COUNTERS, reclaim_counts, reclaimed_since

VMSTAT = """nr_free_pages 50000
pgscan_kswapd {kswapd}
pgsteal_kswapd {stolen}
pgscan_direct 7
pgsteal_direct 5
pgsteal_khugepaged 3
"""


def _vmstat(path: Path, kswapd: int, stolen: int) -> Path:
    path.write_text(VMSTAT.format(kswapd=kswapd, stolen=stolen))
    return path


def _reclaim(*pages: int) -> dict[str, int]:
    """kswapd's scanned and reclaimed pages, then direct reclaim's."""
    return dict(zip(RECLAIM_COUNTERS, pages, strict=True))


def test_only_kswapd_and_direct_reclaim_are_read(tmp_path: Path) -> None:
    counts = reclaim_counts(_vmstat(tmp_path / "vmstat", 10, 8))
    assert counts == _reclaim(10, 8, 7, 5)


def test_a_window_is_told_in_pages_each_counter_moved(tmp_path: Path) -> None:
    vmstat = _vmstat(tmp_path / "vmstat", 10, 8)
    before = reclaim_counts(vmstat)
    _vmstat(vmstat, 2010, 1508)
    moved = reclaimed_since(before, vmstat)
    assert moved == _reclaim(2000, 1500, 0, 0)


def test_a_kernel_without_a_counter_leaves_it_out(tmp_path: Path) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 1\npgsteal_kswapd 4\n")
    before = reclaim_counts(vmstat)
    assert before == {"pgsteal_kswapd": 4}
    vmstat.write_text("nr_free_pages 1\n")
    assert reclaimed_since(before, vmstat) == {}
