"""Kernel log attribution, with a file standing in for /dev/kmsg."""

from pathlib import Path

from fixtures.system.kmsg import KernelLogWatcher

OLD = "4,100,1000,-;WARNING: CPU: 0 PID: 1 at mm/old.c:1 before_the_watcher+0x0/0x10\n"
NEW = (
    "6,101,2000,-;python3 invoked oom-killer: gfp_mask=0x140dca\n"
    "4,102,3000,-;WARNING: CPU: 1 PID: 311 at mm/mempolicy.c:2280 alloc_pages_mpol+0x1/0x2\n"
    " SUBSYSTEM=mm\n"
    "0,103,4000,-;Kernel panic - not syncing: sysrq triggered crash\n"
)


def test_only_what_is_logged_after_the_start_counts(tmp_path: Path) -> None:
    log = tmp_path / "kmsg"
    log.write_text(OLD)
    watcher = KernelLogWatcher(str(log))
    assert watcher.new_crashes() == []
    with log.open("a") as out:
        out.write(NEW)
    assert watcher.new_crashes() == [
        "warning: WARNING: CPU: 1 PID: 311 at mm/mempolicy.c:2280 alloc_pages_mpol+0x1/0x2",
        "panic: Kernel panic - not syncing: sysrq triggered crash",
    ]
    assert watcher.new_crashes() == []
    watcher.close()


def test_an_unreadable_log_gives_nothing(tmp_path: Path) -> None:
    watcher = KernelLogWatcher(str(tmp_path / "absent"))
    assert watcher.new_lines() == []
