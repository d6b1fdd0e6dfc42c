"""The udev rules the guest runs: the two the suite needs, the host's others hidden.

vng's init starts the host's systemd-udevd, and runs the suite only once udev's coldplug
has settled. Every device's event then went through all ~45 rule files of a Debian host
(persistent storage, input, sound, network names, btrfs, dm): 2.1-2.5 s of settling in
every boot under TCG, and udevd ran blkid again on every loop device the file-system
cases attach. The guest needs two of them: 50-udev-default links /dev/virtio-ports, which
vng's script I/O opens, and 80-drivers loads drivers by modalias.

udev(7): a file in /etc/udev/rules.d hides the file of the same name in /usr/lib, and one
that is a symlink to /dev/null disables it. The run folder gets such a folder, which vng
mounts read-only over the guest's /etc/udev/rules.d (the host's own local rules are not
the guest's business either).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

KEPT_RULES = ("50-udev-default.rules", "80-drivers.rules")
HOST_RULES_DIRS = (Path("/usr/lib/udev/rules.d"), Path("/lib/udev/rules.d"))
GUEST_RULES_DIR = Path("/etc/udev/rules.d")
MASK_DIR = "udev-rules.d"  # in the run folder


def hidden_rules(rules_dirs: Sequence[Path] = HOST_RULES_DIRS) -> list[str]:
    """The names of the host's rule files the guest should not run."""
    names = {path.name for folder in rules_dirs for path in folder.glob("*.rules")}
    return sorted(names - set(KEPT_RULES))


def write_mask(run_dir: Path, rules_dirs: Sequence[Path] = HOST_RULES_DIRS) -> Path:
    """The folder of /dev/null links that hides `hidden_rules` (recreated each run)."""
    mask = run_dir / MASK_DIR
    mask.mkdir(exist_ok=True)
    for name in hidden_rules(rules_dirs):
        link = mask / name
        if not link.is_symlink():
            link.symlink_to("/dev/null")
    return mask


def vng_options(run_dir: Path, guest_rules_dir: Path = GUEST_RULES_DIR) -> list[str]:
    """vng's option that mounts the mask, or none where the guest has no folder to mount
    it on (the guest's root is the host's: the mount point must exist here)."""
    if not guest_rules_dir.is_dir():
        return []
    return [f"--rodir={guest_rules_dir}={write_mask(run_dir)}"]
