"""Knobs the suite turns: hugetlb pools, sysctls and weighted-interleave weights, always put
back as they were."""

import errno
from pathlib import Path

import pytest

from fixtures.knobs.base import InterleaveWeights, KnobUnavailable
from fixtures.knobs.hugetlb import HugetlbPool, hugetlb_unavailable_reason, pool_dir
from fixtures.knobs.ksm import Ksm
from fixtures.knobs.slab import SlabRemoteDefrag
from fixtures.knobs.sysctl import Sysctl


def fake_sysfs(root: Path, sizes: dict[int, int]) -> Path:
    for node, nr in sizes.items():
        pool = pool_dir(node, root=root)
        pool.mkdir(parents=True)
        (pool / "nr_hugepages").write_text(f"{nr}\n")
        (pool / "free_hugepages").write_text(f"{nr}\n")
    return root


def sizes(root: Path, nodes: tuple[int, ...]) -> dict[int, int]:
    return {n: int((pool_dir(n, root=root) / "nr_hugepages").read_text()) for n in nodes}


def test_grows_every_node_and_restores(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, {0: 0, 1: 3, 4: 0})
    with HugetlbPool((0, 1, 4), 6, root=root) as pool:
        assert sizes(root, (0, 1, 4)) == {0: 6, 1: 9, 4: 6}
        assert pool.pools[1].before == 3 and pool.pools[1].got == 9
        # The fake kernel frees nothing: free_hugepages still says the old count.
        assert pool.shortfall(5) == {0: 0, 1: 3, 4: 0}
    assert sizes(root, (0, 1, 4)) == {0: 0, 1: 3, 4: 0}


def test_restores_when_the_body_fails(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, {0: 2, 1: 0})
    with pytest.raises(RuntimeError), HugetlbPool((0, 1), 6, root=root):
        raise RuntimeError("the case broke")
    assert sizes(root, (0, 1)) == {0: 2, 1: 0}


def test_restores_the_nodes_done_when_growing_fails_half_way(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, {0: 1, 1: 0})
    # Node 1's free count cannot be read: the failure comes after its write.
    (pool_dir(1, root=root) / "free_hugepages").unlink()
    with pytest.raises(FileNotFoundError), HugetlbPool((0, 1), 6, root=root):
        pass
    assert sizes(root, (0, 1)) == {0: 1, 1: 0}


def test_says_why_a_pool_is_missing(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, {0: 0})
    assert hugetlb_unavailable_reason((0,), root=root) is None
    reason = hugetlb_unavailable_reason((0, 1), root=root)
    assert reason is not None and "node 1" in reason


def test_sysctl_is_set_and_put_back(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    knob = tmp_path / "kernel" / "numa_balancing"
    knob.write_text("1\n")
    with pytest.raises(RuntimeError), Sysctl("kernel.numa_balancing", "0", root=tmp_path) as s:
        assert knob.read_text() == "0\n" and s.before == "1"
        raise RuntimeError("the case broke")
    assert knob.read_text() == "1\n"


def test_sysctl_already_set_or_missing_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "numa_balancing").write_text("0\n")
    with Sysctl("kernel.numa_balancing", "0", root=tmp_path) as s:
        assert s.before is None
    missing = Sysctl("vm.nothing_here", "1", root=tmp_path)
    with missing:
        assert not missing.exists
    assert not (tmp_path / "vm").exists()


def fake_weights(root: Path, weights: dict[int, int], auto: str) -> Path:
    root.mkdir()
    for node, weight in weights.items():
        (root / f"node{node}").write_text(f"{weight}\n")
    (root / "auto").write_text(f"{auto}\n")
    return root


def test_weights_are_put_back_with_the_mode_last(tmp_path: Path) -> None:
    root = fake_weights(tmp_path / "wi", {0: 1, 1: 1}, "true")
    with InterleaveWeights(root) as knob:
        knob.set({0: 3})
        (root / "auto").write_text("false\n")  # what the kernel does on a manual write
        assert knob.read() == {0: 3, 1: 1}
    assert knob.read() == {0: 1, 1: 1}
    assert (root / "auto").read_text() == "true\n"


def test_a_weight_that_cannot_be_written_back_stops_no_other(tmp_path: Path) -> None:
    root = fake_weights(tmp_path / "wi", {0: 1, 1: 2}, "true")
    with pytest.raises(IsADirectoryError), InterleaveWeights(root) as knob:
        knob.set({0: 5, 1: 6})
        (root / "auto").write_text("false\n")
        (root / "node0").unlink()  # node 0 went away: its file cannot take the old value
        (root / "node0").mkdir()
    assert (root / "node1").read_text() == "2\n"
    assert (root / "auto").read_text() == "true\n"


@pytest.fixture
def no_bandwidth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Weights of nodes 0 and 1 on automatic, on a machine without bandwidth data: writing
    true to `auto` fails with ENODEV."""
    root = fake_weights(tmp_path / "wi", {0: 1, 1: 1}, "true")
    write_text = Path.write_text

    def refuse(path: Path, data: str, *args: object, **kwargs: object) -> int:
        if path.name == "auto" and data.strip() == "true":
            raise OSError(errno.ENODEV, "No such device", str(path))
        return write_text(path, data)

    monkeypatch.setattr(Path, "write_text", refuse)
    return root


def test_weights_left_alone_when_auto_could_not_come_back(no_bandwidth: Path) -> None:
    with InterleaveWeights(no_bandwidth) as knob, pytest.raises(KnobUnavailable, match="ENODEV"):
        knob.set({0: 3})
    assert knob.read() == {0: 1, 1: 1}
    assert (no_bandwidth / "auto").read_text() == "true\n"


def test_auto_already_off_is_no_obstacle(no_bandwidth: Path) -> None:
    (no_bandwidth / "auto").write_text("false\n")
    with InterleaveWeights(no_bandwidth) as knob:
        assert knob.irreversible_reason() is None
        knob.set({0: 3})
    assert knob.read() == {0: 1, 1: 1}


def test_a_guest_may_turn_auto_off_for_good(
    no_bandwidth: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A QEMU guest on 6.16+ has no HMAT bandwidth: the weights come back, `auto` stays off
    and nothing fails (the first weighted case on 7.3 used to end in ENODEV here)."""
    monkeypatch.setattr(InterleaveWeights, "keep_host", False)
    with InterleaveWeights(no_bandwidth) as knob:
        knob.set({0: 3})
        (no_bandwidth / "auto").write_text("false\n")
    assert knob.read() == {0: 1, 1: 1}
    assert (no_bandwidth / "auto").read_text() == "false\n"


# --- KSM ---


def fake_ksm(root: Path, **values: str) -> Path:
    defaults = {
        "run": "0",
        "sleep_millisecs": "20",
        "pages_to_scan": "100",
        "merge_across_nodes": "1",
        "full_scans": "0",
    }
    for name, value in {**defaults, **values}.items():
        (root / name).write_text(f"{value}\n")
    return root


def ksm_values(root: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in sorted(root.iterdir())}


def test_ksm_unmerges_before_merge_across_nodes_and_restores(tmp_path: Path) -> None:
    root = fake_ksm(tmp_path)
    before = ksm_values(root)
    with Ksm(root) as ksm:
        ksm.start(merge_across_nodes=0)
        assert ksm_values(root) == {
            **before,
            "run": "1",
            "merge_across_nodes": "0",
            "sleep_millisecs": "10",
            "pages_to_scan": "4000",
        }
    assert ksm_values(root) == before


def test_ksm_restores_when_the_case_fails(tmp_path: Path) -> None:
    root = fake_ksm(tmp_path, run="1", merge_across_nodes="0")
    before = ksm_values(root)
    with pytest.raises(RuntimeError), Ksm(root) as ksm:
        ksm.start(merge_across_nodes=1)
        raise RuntimeError("the case broke")
    assert ksm_values(root) == before


def test_ksm_without_the_knob_is_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    root = fake_ksm(tmp_path)
    (root / "merge_across_nodes").unlink()
    before = ksm_values(root)
    with pytest.raises(KnobUnavailable), Ksm(root) as ksm:
        ksm.start(merge_across_nodes=0)
    assert ksm_values(root) == before


def _fake_slab_sysfs(root: Path) -> Path:
    for name, ratio in (("buffer_head", "100"), (":a-0000104", "100"), ("kmalloc-64", "40")):
        (root / name).mkdir(parents=True)
        (root / name / "remote_node_defrag_ratio").write_text(f"{ratio}\n")
    (root / "jbd2_journal_head").symlink_to(root / ":a-0000104")  # a merged cache's alias
    return root


def _ratios(root: Path) -> dict[str, str]:
    return {
        d.name: (d / "remote_node_defrag_ratio").read_text().strip()
        for d in sorted(root.iterdir())
        if not d.is_symlink()
    }


def test_slab_remote_defrag_zeroes_every_cache_once_and_restores(tmp_path: Path) -> None:
    root = _fake_slab_sysfs(tmp_path / "slab")
    knob = SlabRemoteDefrag(0, root=root)
    assert [p.parent.name for p in knob.files()] == [":a-0000104", "buffer_head", "kmalloc-64"]
    with pytest.raises(RuntimeError), knob:
        assert set(_ratios(root).values()) == {"0"}
        raise RuntimeError("the case broke")
    assert _ratios(root) == {":a-0000104": "100", "buffer_head": "100", "kmalloc-64": "40"}


def test_slab_remote_defrag_unavailable_without_the_files(tmp_path: Path) -> None:
    with pytest.raises(KnobUnavailable, match="does not exist"):
        SlabRemoteDefrag(0, root=tmp_path / "absent").files()
    (tmp_path / "slab" / "buffer_head").mkdir(parents=True)
    with pytest.raises(KnobUnavailable, match="CONFIG_NUMA"):
        SlabRemoteDefrag(0, root=tmp_path / "slab").files()
