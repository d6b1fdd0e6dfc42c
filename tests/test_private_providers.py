"""Private-node providers: the kernel series, the cpuset fence, the unprotected control.

The fence runs against a fake cgroup v2 root in a temporary folder (files where cgroupfs
has files); the kernel provider against the recorded and derived sysfs trees.
"""

import os
import shutil
from pathlib import Path

import pytest

from fixtures.private import providers
from fixtures.private.providers import (
    CONSUMER,
    FENCE,
    CpusetFence,
    PrivateNode,
    ProviderError,
    SeriesMissing,
    Task,
    open_provider,
    user_tasks,
)
from fixtures.system.topology import discover

SYSFS = Path(__file__).parent / "data" / "sysfs"
STOCK = discover(SYSFS / "qemu-private-6.12")  # 0, 1 normal; 2 CPU-less
V5 = discover(SYSFS / "private-v5")  # 3 CPU-less and private


class FakeFence(CpusetFence):
    def remove_dir(self, group: Path) -> None:
        shutil.rmtree(group)  # a plain folder keeps its files; cgroupfs does not


def fake_root(tmp_path: Path, *, subtree: str = "") -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text(subtree + "\n")
    (root / "cgroup.procs").write_text("1\n42\n")
    return root


def test_fence_sets_up_and_restores_everything(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    with FakeFence({0, 1}, 2, root) as fence:
        assert (root / "cgroup.subtree_control").read_text() == "+cpuset\n"
        assert (root / FENCE / "cpuset.mems").read_text() == "0,1\n"
        assert (root / CONSUMER / "cpuset.mems").read_text() == "0,1,2\n"
        assert (root / FENCE / "cgroup.procs").read_text() == "42\n"  # the last pid written
        assert fence.moved == 2
        fence.enter_consumer()
        assert (root / CONSUMER / "cgroup.procs").read_text() == f"{os.getpid()}\n"
        assert fence.to_json()["consumer_mems"] == "0,1,2"
    assert not (root / FENCE).exists() and not (root / CONSUMER).exists()
    assert (root / "cgroup.subtree_control").read_text() == "-cpuset\n"


def test_fence_leaves_an_enabled_controller_enabled(tmp_path: Path) -> None:
    root = fake_root(tmp_path, subtree="cpuset memory")
    with FakeFence({0}, 2, root):
        pass
    assert (root / "cgroup.subtree_control").read_text() == "cpuset memory\n"


def test_fence_restores_when_its_setup_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fake_root(tmp_path)
    real = providers._move_tasks

    def broken(source: Path, target: Path) -> int:
        if target.parent.name == FENCE:  # moving the tasks in fails; moving them back works
            raise OSError(5, "I/O error")
        return real(source, target)

    monkeypatch.setattr(providers, "_move_tasks", broken)
    with pytest.raises(OSError), FakeFence({0, 1}, 2, root):
        pass
    assert not (root / FENCE).exists() and not (root / CONSUMER).exists()
    assert (root / "cgroup.subtree_control").read_text() == "-cpuset\n"


def test_fence_clears_what_a_killed_run_left(tmp_path: Path) -> None:
    root = fake_root(tmp_path, subtree="cpuset")
    (root / FENCE).mkdir()
    (root / FENCE / "cgroup.procs").write_text("7\n")
    with FakeFence({0, 1}, 2, root):
        assert (root / FENCE / "cpuset.mems").read_text() == "0,1\n"
    assert not (root / FENCE).exists()


def test_fence_needs_cgroup_v2_with_cpuset(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="not a cgroup v2 mount"), FakeFence({0}, 1, tmp_path):
        pass
    root = fake_root(tmp_path)
    (root / "cgroup.controllers").write_text("memory\n")
    with pytest.raises(ProviderError, match="no cpuset controller"), FakeFence({0}, 1, root):
        pass


def test_unfenced_tasks_are_named() -> None:
    node = PrivateNode(2, "cpuset-fence", (0, 1))
    tasks = [
        Task(1, "init", f"/{FENCE}", frozenset({0, 1})),
        Task(9, "consumer", f"/{CONSUMER}", frozenset({0, 1, 2})),
        Task(12, "escaped", "/", frozenset({0, 1, 2})),
    ]
    assert [t.comm for t in node.unfenced(tasks)] == ["escaped"]


def test_user_tasks_reads_this_system() -> None:
    mine = [t for t in user_tasks() if t.pid == os.getpid()]
    assert len(mine) == 1 and mine[0].mems_allowed


def test_kernel_provider_without_the_series_is_unsupported() -> None:
    with (
        pytest.raises(SeriesMissing, match="lacks the N_MEMORY_PRIVATE series"),
        open_provider("kernel", STOCK, node=2, sysfs=SYSFS / "qemu-private-6.12"),
    ):
        pass


def test_kernel_provider_finds_its_node() -> None:
    with open_provider("kernel", V5, sysfs=SYSFS / "private-v5") as node:
        assert (node.node, node.normal, node.provider) == (3, (0, 1), "kernel")
        assert node.discovery is not None and node.discovery.interface == "has_private_memory"
        node.enter_consumer()  # nothing to do without a fence


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"node": 1}, "node 1 was to be private, but has_private_memory lists \\[3\\]"),
        ({"interfaces": ("has_public_memory",)}, "choose the profile of this series version"),
    ],
)
def test_kernel_provider_setup_errors(options: dict[str, object], message: str) -> None:
    with (
        pytest.raises(ProviderError, match=message),
        open_provider("kernel", V5, sysfs=SYSFS / "private-v5", **options),  # type: ignore[arg-type]
    ):
        pass


def test_unprotected_provider_checks_the_node() -> None:
    with open_provider("unprotected", STOCK) as node:
        assert (node.node, node.normal) == (2, (0, 1))
        assert node.to_json()["fence"] is None
    with pytest.raises(ProviderError, match="not a CPU-less memory node"):
        with open_provider("unprotected", STOCK, node=0):
            pass
    with pytest.raises(ProviderError, match="unknown private-node provider"):
        with open_provider("fence", STOCK):
            pass
