"""vm/result_port.py: the ports QEMU writes the KTAP streams through, and the guest's
choice between a port and the run folder's file."""

from __future__ import annotations

import shlex
from pathlib import Path

from vm.result_port import MAX_PORTS, guest_destination, ktap_name, qemu_options


def test_a_port_for_each_repetition_writes_that_repetitions_file() -> None:
    words = shlex.split(qemu_options(Path("/runs/a"), 2))
    # queues for two ports and port 0 (a console's), not virtio's default 31
    assert words[:2] == ["-device", "virtio-serial-pci,id=mpc-results,max_ports=3"]
    chardevs = [words[i + 1] for i, w in enumerate(words) if w == "-chardev"]
    assert chardevs == [
        "file,id=mpc-ktap1,path=/runs/a/results.ktap",
        "file,id=mpc-ktap2,path=/runs/a/results.r2.ktap",
    ]
    ports = [words[i + 1] for i, w in enumerate(words) if w == "-device"][1:]
    assert ports == [
        "virtserialport,bus=mpc-results.0,chardev=mpc-ktap1,name=mpc.results.ktap",
        "virtserialport,bus=mpc-results.0,chardev=mpc-ktap2,name=mpc.results.r2.ktap",
    ]


def test_a_run_folder_with_a_comma_or_a_space_stays_one_option() -> None:
    words = shlex.split(qemu_options(Path("/runs/a,b c"), 1))
    assert "file,id=mpc-ktap1,path=/runs/a,,b c/results.ktap" in words


def test_no_matrix_no_ports_and_never_more_than_the_controller_holds() -> None:
    assert qemu_options(Path("/runs/a"), 0) == ""
    many = shlex.split(qemu_options(Path("/runs/a"), MAX_PORTS + 5))
    assert many.count("-chardev") == MAX_PORTS
    assert f"virtio-serial-pci,id=mpc-results,max_ports={MAX_PORTS + 1}" in many


def fake_port(ports: Path, devices: Path, device: str, name: str) -> None:
    (ports / device).mkdir(parents=True)
    (ports / device / "name").write_text(name + "\n")
    devices.mkdir(exist_ok=True)
    (devices / device).touch()


def test_the_guest_writes_to_the_port_named_for_its_file(tmp_path: Path) -> None:
    ports, devices, out = tmp_path / "ports", tmp_path / "dev", tmp_path / "out"
    fake_port(ports, devices, "vport1p1", "org.virtme.console.0")
    fake_port(ports, devices, "vport2p1", "mpc.results.ktap")
    fake_port(ports, devices, "vport2p2", "mpc.results.r2.ktap")
    assert guest_destination(out, ktap_name(1), ports, devices) == devices / "vport2p1"
    assert guest_destination(out, ktap_name(2), ports, devices) == devices / "vport2p2"
    # more repetitions than ports: the third writes its file over the run folder's share
    assert guest_destination(out, ktap_name(3), ports, devices) == out / "results.r3.ktap"


def test_without_the_port_or_its_device_the_guest_writes_the_file(tmp_path: Path) -> None:
    ports, devices, out = tmp_path / "ports", tmp_path / "dev", tmp_path / "out"
    assert guest_destination(out, "results.ktap", ports, devices) == out / "results.ktap"
    fake_port(ports, devices, "vport2p1", "mpc.results.ktap")
    (devices / "vport2p1").unlink()  # no devtmpfs node (yet)
    assert guest_destination(out, "results.ktap", ports, devices) == out / "results.ktap"
