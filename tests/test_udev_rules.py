"""The guest's udev runs only the rules the suite needs, and a TCG guest gets the CPU
model chosen for speed: what the vng command line carries for both."""

from __future__ import annotations

import os
from pathlib import Path

from vm.runner import ENTROPY_DEVICE, SERIAL_PORTS_GLOBAL, TCG_CPU, vng_command
from vm.topology import load_preset
from vm.udev_rules import KEPT_RULES, MASK_DIR, hidden_rules, vng_options, write_mask

HOST_RULES = (
    "50-udev-default.rules",
    "60-persistent-storage.rules",
    "64-btrfs.rules",
    "80-drivers.rules",
    "99-systemd.rules",
)


def rules_tree(root: Path) -> list[Path]:
    """A host's two rules folders: most files in one, a local addition in the other."""
    usr, lib = root / "usr-lib", root / "lib"
    usr.mkdir(parents=True)
    lib.mkdir(parents=True)
    for name in HOST_RULES:
        (usr / name).write_text("# rule\n")
    (lib / "70-local.rules").write_text("# rule\n")
    (lib / "README").write_text("not a rule file\n")
    return [usr, lib]


def test_every_rule_file_but_the_kept_two_is_hidden(tmp_path: Path) -> None:
    hidden = hidden_rules(rules_tree(tmp_path))
    assert hidden == [
        "60-persistent-storage.rules",
        "64-btrfs.rules",
        "70-local.rules",
        "99-systemd.rules",
    ]
    assert not set(hidden) & set(KEPT_RULES)


def test_the_mask_links_each_hidden_file_to_dev_null(tmp_path: Path) -> None:
    folders = rules_tree(tmp_path / "host")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    mask = write_mask(run_dir, folders)
    assert mask == run_dir / MASK_DIR
    links = sorted(mask.iterdir())
    assert [link.name for link in links] == hidden_rules(folders)
    assert all(os.readlink(link) == "/dev/null" for link in links)
    write_mask(run_dir, folders)  # a second write (a rerun in the same folder) is fine


def test_no_mount_where_the_guest_has_no_rules_folder(tmp_path: Path) -> None:
    assert vng_options(tmp_path, guest_rules_dir=tmp_path / "missing") == []
    assert not (tmp_path / MASK_DIR).exists()
    assert hidden_rules([tmp_path / "no-such-folder"]) == []  # a host without udev's rules


def test_the_vng_command_mounts_the_mask_and_picks_the_tcg_cpu(tmp_path: Path) -> None:
    preset = load_preset("default")
    tcg = vng_command(tmp_path / "bzImage", preset, tmp_path, accel="tcg")
    assert f"--qemu-opts=-cpu {TCG_CPU}" in tcg
    if Path("/etc/udev/rules.d").is_dir():
        assert f"--rodir=/etc/udev/rules.d={tmp_path / MASK_DIR}" in tcg
    kvm = vng_command(tmp_path / "bzImage", preset, tmp_path, accel="kvm")
    assert not any(word.startswith("--qemu-opts=-cpu") for word in kvm)  # vng's -cpu host
    for command in (tcg, kvm):  # entropy from the start, under either accelerator
        assert f"--qemu-opts={ENTROPY_DEVICE}" in command
        # vng's one-port controllers get two ports' queues; the suite's its own number
        assert f"--qemu-opts={SERIAL_PORTS_GLOBAL}" in command
