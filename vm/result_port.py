"""The KTAP stream's way out of the guest: a virtio-serial port for each stream, which QEMU
writes into the stream's file in the run folder.

Over the run folder's 9p share (cache=none) each case's KTAP line was a round trip
through QEMU's main loop and its worker threads: 2.2-2.8 ms of every case under TCG. The
guest's write to a port queues the line and kicks the device; QEMU writes it to the host
file (under TCG within the kick, in the vCPU's own exit: 0.4-0.6 ms a line), and a line
already queued is written even when the guest's kernel dies after it, so vm/salvage.py
and the host's progress read the same file as before. A guest without the port (no
virtio_console, a run outside a VM, more repetitions than ports) writes the file over 9p.
"""

from __future__ import annotations

import shlex
from pathlib import Path

# virtio-serial's default max_ports is 31, and port 0 is kept for a console.
MAX_PORTS = 30
PORT_PREFIX = "mpc."  # a port's name: the prefix, then the file it writes
CONTROLLER_ID = "mpc-results"
GUEST_PORTS = Path("/sys/class/virtio-ports")
GUEST_DEVICES = Path("/dev")


def ktap_name(repetition: int) -> str:
    """The KTAP file of the `repetition`th run of the matrix in one boot (1 is the first)."""
    return "results.ktap" if repetition == 1 else f"results.r{repetition}.ktap"


def qemu_options(run_dir: Path, repetitions: int) -> str:
    """QEMU's options (one --qemu-opts value for vng, shell-quoted) for a controller and a
    port for each repetition's KTAP file, up to MAX_PORTS; "" for none."""
    count = min(repetitions, MAX_PORTS)
    if count < 1:
        return ""
    # Queues for the ports it has, not the default 31 (see runner.SERIAL_PORTS_GLOBAL).
    options = ["-device", f"virtio-serial-pci,id={CONTROLLER_ID},max_ports={count + 1}"]
    for repetition in range(1, count + 1):
        name = ktap_name(repetition)
        chardev = f"mpc-ktap{repetition}"
        host_path = str(run_dir / name).replace(",", ",,")  # QEMU's option syntax
        options += ["-chardev", f"file,id={chardev},path={host_path}"]
        options += [
            "-device",
            f"virtserialport,bus={CONTROLLER_ID}.0,chardev={chardev},name={PORT_PREFIX}{name}",
        ]
    return " ".join(shlex.quote(option) for option in options)


def guest_destination(
    out: Path, name: str, ports: Path = GUEST_PORTS, devices: Path = GUEST_DEVICES
) -> Path:
    """Where the guest writes the stream `name`: its port's device when the host gave
    one, else the file in the run folder `out`."""
    wanted = PORT_PREFIX + name
    try:
        entries = sorted(ports.iterdir())
    except OSError:
        return out / name
    for entry in entries:
        try:
            port_name = (entry / "name").read_text().strip()
        except OSError:
            continue
        device = devices / entry.name
        if port_name == wanted and device.exists():
            return device
    return out / name
