"""Boot a kernel with virtme-ng and run the matrix in it; results come back as files.

The guest sees the host's root filesystem read-only (so the same Python and pytest run
there) and one read-write folder, the run folder, where it leaves result.json,
status.json and results.ktap (the host adds junit.xml from the result). The console goes
to console.log as evidence only.
"""

from __future__ import annotations

import compileall
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixtures.system.module_code import ENV as MODULE_CODE_ENV
from fixtures.system.module_code import boot_file
from reports.document import SUITE_VERSION_ENV, suite_record
from vm import guest_python, host_load, result_port
from vm.cached_shares import CachedShare, cached_shares, mount_script, vng_options
from vm.console import crashes
from vm.errors import InfraError
from vm.guest_entry import PATH_ENV as GUEST_PATH_ENV
from vm.guest_main import blocked_plugins
from vm.guest_python import GuestPython, host_stdlib
from vm.host import static_busybox
from vm.progress import Progress
from vm.topology import TopologyPreset
from vm.udev_rules import vng_options as udev_rules_options

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT_S = 1800.0
POLL_S = 0.5
# Guest modules the matrix never uses; udev loading them costs seconds under TCG. The
# guest's root is shared from the host, so the q35 machine's AHCI controller and its
# DVD-ROM (ahci ... sg) serve nothing: probing them was 15 s of a 45 s udev settle
# (6.12, load 9); the watchdog, PC speaker, cpufreq and crypto drivers likewise.
SKIPPED_GUEST_MODULES = ",".join(
    (
        *("kvm", "kvm_intel", "kvm_amd", "drm", "bochs", "snd", "soundcore", "psmouse"),
        *("floppy", "ahci", "libahci", "sr_mod", "cdrom", "sg", "iTCO_wdt"),
        *("iTCO_vendor_support", "lpc_ich", "i2c_i801", "pcspkr", "powernow_k8", "cryptd"),
    )
)
# What else udev's coldplug loads by modalias on vng's q35 machine (the CPU's crypto
# helpers, the i6300esb watchdog vng adds, input and firmware-config drivers). Listed
# for kmod (modprobe.blacklist=), which then never reads a .ko.xz over 9p for them nor
# their dependencies (libata, scsi_mod, irqbypass ...): module_blacklist= alone lets
# modprobe load the dependencies and decompress each module before the kernel refuses
# it. An alias such as crypto-crc32c still resolves to its generic module.
UNPROBED_GUEST_MODULES = ",".join(
    (
        SKIPPED_GUEST_MODULES,
        *("irqbypass", "libata", "ata_piix", "scsi_mod", "scsi_common", "i2c_smbus"),
        *("i6300esb", "watchdog", "serio_raw", "evdev", "button", "qemu_fw_cfg"),
        *("crc32c_intel", "crc32_pclmul", "crct10dif_pclmul", "ghash_clmulni_intel"),
        *("aesni_intel", "polyval_clmulni", "sha1_ssse3", "sha256_ssse3", "sha512_ssse3"),
    )
)
# Automatic NUMA balancing off from the boot (Debian's kernels start with it on). Every
# module that checks where pages were allocated turns it off and puts it back, and each
# switch patches the kernel's text at the sites of its static key: under multi-threaded
# TCG such patching sometimes panicked the guest ("Oops: int3", see the cpuset keeper in
# fixtures/plugin/knobs.py). Off from the start, those modules find it off and switch
# nothing; the cases that need it on (flags' balancing cases, the leaks workload) turn it
# on for themselves.
STEADY_KEYS = ("numa_balancing=disable",)
# The CPU a TCG guest gets. vng asks for `max`, every feature TCG can emulate: XSAVE and
# AVX2 among them, which the kernel then switches and glibc's string functions use, all
# emulated. QEMU's default model (AMD, so no PTI either) with x86-64-v2's additions (so a
# Python built for v2 still runs): in alternating boots the flags area alone took ~15 s
# against ~40 s with `max`, and `import pytest` and fork+exit were faster. Not
# `max,-xsave`: QEMU still reports AVX2 then, and raid6_pq (btrfs) ran AVX2 code into an
# invalid-opcode Oops.
#
# RDRAND (QEMU's helper draws on the host's getrandom): the kernel trusts it and has its
# CRNG ready at ~0.07 s, on the boot CPU alone, so the static key the CRNG switches on
# is patched before a second CPU runs. Readied later (by virtio-rng below, ~4.5 s), the
# switch landed among udev's workers, and one boot died of it: "Oops: int3" in
# get_random_u32 (the text-patching race under multi-threaded TCG, see STEADY_KEYS).
TCG_CPU = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+rdrand"
# The suite's packages, compiled on the host before a boot (a second, natively): the
# guest writes no bytecode, and compiling them there took seconds of every boot under TCG.
GUEST_PACKAGES = ("fixtures", "conformance", "reports", "vm")
GUEST_SCRIPT = "guest.sh"  # in the run folder: what the guest runs
# The guest's entropy: the TCG CPU has no RDRAND and vng adds no RNG device, so the
# kernel's CRNG was ready only ~8 s into a 6.12 boot, and Python's start, which reads
# urandom for its hash seed, waited up to a second for it. QEMU's virtio-rng (its
# built-in backend, the host's getrandom) readies it as virtio_rng loads, ~5.6 s:
# script-to-Python 1.9-2.3 s -> 1.0-1.35 s.
# It stays for kernels that do not trust the CPU's generator (random.trust_cpu=off).
ENTROPY_DEVICE = "-device virtio-rng-pci"
# vng gives each of its six ports (stdin, stdout, the return code...) a virtio-serial
# controller of its own, with virtio's default of 31 ports: 64 queues each, and an
# eventfd for each queue that QEMU's main loop polls on every wake-up (~1,500 a second
# under TCG). With the suite's controller, 457 descriptors: the main loop took 3.5 s of
# a host core in an 18 s `-m errors` boot, beside the two vCPU threads on this 2-core
# host. Two ports each (port 0 is kept for a console): 1.0 s, and the first case
# 1.6 s sooner (7 alternating boots, 12.1 -> 10.5 s on average).
SERIAL_PORTS_GLOBAL = "-global virtio-serial-pci.max_ports=2"


@dataclass(frozen=True)
class GuestRun:
    run_dir: Path
    console_log: Path
    status: str  # ok | crashed | lost-vm | timeout | fatal
    wall_s: float
    boot_s: float | None  # kernel start to the suite's start, measured in the guest
    pytest_exit: int | None
    crashes: tuple[str, ...]
    fatal: str | None = None  # the guest found it could not run the matrix at all
    suite_s: float | None = None  # the suite's start to its end, measured in the guest
    first_case_s: float | None = None  # kernel start to the first case's start (boot.json)
    # vm/host_load.py: CPU seconds the host spent beside the guest, and the steal
    host_other_cpu_s: float | None = None
    host_steal_s: float | None = None
    guest_fault_us: float | None = None  # vm/yardstick.py: the host's speed, seen from the guest

    @property
    def result_file(self) -> Path:
        return self.run_dir / "result.json"


def vng_executable() -> str:
    beside_python = Path(sys.executable).parent / "vng"
    found = str(beside_python) if beside_python.exists() else shutil.which("vng")
    if not found:
        raise InfraError(
            "virtme-ng's vng is not installed: run through tox, or pip install virtme-ng"
        )
    return found


def guest_import_path(python: GuestPython | None) -> list[str]:
    """The guest's import path: this process's, with `python`'s standard library."""
    if python is None:
        return [entry for entry in sys.path if entry]
    return python.import_path(sys.path, host_stdlib())


def guest_command(
    run_dir: Path,
    pytest_args: Sequence[str],
    guest_options: Sequence[str] = (),
    module_code: Path | None = None,
    python: GuestPython | None = None,
) -> str:
    """The command line that starts the suite in the guest, quoted here, once.
    `python`: the interpreter it runs (vm/guest_python.py); None for this one."""
    argv = [
        "env",
        "PYTHONDONTWRITEBYTECODE=1",
        f"{SUITE_VERSION_ENV}={suite_record()['version']}",
        *([f"{MODULE_CODE_ENV}={module_code}"] if module_code is not None else []),
        f"{GUEST_PATH_ENV}={os.pathsep.join(guest_import_path(python))}",
        str(python.executable) if python is not None else sys.executable,
        "-S",  # without site: vm/guest_entry.py says why, and puts our sys.path back
        "-m",
        "vm.guest_entry",
        "--out",
        str(run_dir),
        *guest_options,
        "--",
        *pytest_args,
    ]
    return shlex.join(argv)


def guest_script(
    run_dir: Path,
    pytest_args: Sequence[str],
    guest_options: Sequence[str] = (),
    shares: Sequence[CachedShare] = (),
    module_code: Path | None = None,
    busybox: Path | None = None,
    python: GuestPython | None = None,
) -> str:
    """What the guest's shell runs: mount the cached `shares` (with `busybox`, when
    given), then start the suite (with `python`, or this interpreter)."""
    return (
        "# Written by vm.runner into the run folder; vng runs it as the guest's command.\n"
        + mount_script(shares, run_dir, REPO_ROOT, busybox)
        + "exec "
        + guest_command(run_dir, pytest_args, guest_options, module_code, python)
        + "\n"
    )


def vng_command(
    image: Path,
    preset: TopologyPreset,
    run_dir: Path,
    *,
    accel: str,
    append: Sequence[str] = (),
    shares: Sequence[CachedShare] = (),
    ktap_streams: int = 0,
) -> list[str]:
    """The vng command line; the guest runs run_dir/guest.sh (see guest_script). The
    command itself travels base64-encoded on the kernel command line, which x86 cuts at
    2048 bytes: a file in the run folder (mounted before the command runs) has no limit.
    """
    # --force-9p: vng tries virtiofsd for the root first and waits up to 3 s for it; the
    # C virtiofsd of Debian 12's QEMU takes other options, so every boot fell back to 9p
    # after ~6 s of the host's wall time.
    command = [vng_executable(), "--run", str(image), "--verbose", "--force-9p"]
    if accel != "kvm":
        command += ["--disable-kvm", f"--qemu-opts=-cpu {TCG_CPU}"]  # after vng's -cpu: wins
    command += preset.vng_arguments()
    command += ["--rwdir", str(run_dir), "--cwd", str(REPO_ROOT)]
    blacklists = (
        f"module_blacklist={SKIPPED_GUEST_MODULES}",
        f"modprobe.blacklist={UNPROBED_GUEST_MODULES}",
    )
    for parameter in (*blacklists, *STEADY_KEYS, *append):
        command += ["--append", parameter]
    command += vng_options(shares)
    ports = result_port.qemu_options(run_dir, ktap_streams)
    command += [f"--qemu-opts={ports}"] if ports else []
    command += [f"--qemu-opts={ENTROPY_DEVICE}", f"--qemu-opts={SERIAL_PORTS_GLOBAL}"]
    command += udev_rules_options(run_dir)
    command += ["--exec", shlex.join(["/bin/sh", str(run_dir / GUEST_SCRIPT)])]
    return command


def precompile(run_dir: Path, python: GuestPython | None = None) -> Path | None:
    """Compile the suite's modules into their __pycache__ here, where it is fast; the
    guest reads them (PYTHONDONTWRITEBYTECODE only stops it writing). Best effort: a
    checkout the user cannot write is compiled in the guest, as before. Returns the
    module snapshot written for this boot (compile_for_guest), None when there is none."""
    for package in GUEST_PACKAGES:
        compileall.compile_dir(REPO_ROOT / package, quiet=2)
    snapshot = boot_file(run_dir.name)
    compile_for_guest(snapshot, python)
    return snapshot if snapshot.exists() else None


def compile_for_guest(modules: Path | None = None, python: GuestPython | None = None) -> None:
    """Have the guest's Python code compiled here, in one collection of the matrix.

    pytest rewrites the asserts of the test modules, the conftest and the plugin on
    import, and caches the result beside each module only when it may write bytecode,
    which the guest may not; dataclasses compile the methods they generate on every
    import. Under TCG both took seconds of every boot. A collection here, natively (about
    two seconds), writes pytest's pycs and the dataclasses' code
    (fixtures/system/dataclass_code.py), and into `modules` the code of every module it
    imported (fixtures/system/module_code.py); run by the guest's Python (`python`, or
    this one), whose standard library the snapshot then holds. Best effort, like
    precompile.
    """
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    command = [sys.executable, "-m", "fixtures.system.dataclass_code"]
    if python is not None:  # without site, on the guest's import path, as in the guest
        environment["PYTHONPATH"] = os.pathsep.join(guest_import_path(python))
        command = [str(python.executable), "-S", "-m", "fixtures.system.dataclass_code"]
    command += [f"--modules={modules}"] if modules is not None else []
    command += [*blocked_plugins(), "conformance", "--collect-only", "-q"]
    try:
        subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_in_vm(
    image: Path,
    preset: TopologyPreset,
    run_dir: Path,
    *,
    accel: str,
    pytest_args: Sequence[str] = (),
    guest_options: Sequence[str] = (),
    append: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    ktap_streams: int = 0,
) -> GuestRun:
    """Boot `image` with `preset`, run the matrix, and say what became of the guest.
    `ktap_streams`: how many runs of the matrix the boot makes (`--repeat`), each given a
    port for its KTAP stream (vm/result_port.py); 0 for a boot that runs no matrix."""
    run_dir.mkdir(parents=True, exist_ok=True)
    python = guest_python.choose()
    module_code = precompile(run_dir, python)
    console_log = run_dir / "console.log"
    shares = cached_shares([REPO_ROOT, *python.folders])
    script = guest_script(
        run_dir,
        pytest_args,
        guest_options,
        shares,
        module_code,
        busybox=static_busybox(),
        python=python,
    )
    (run_dir / GUEST_SCRIPT).write_text(script)
    command = vng_command(
        image, preset, run_dir, accel=accel, append=append, shares=shares, ktap_streams=ktap_streams
    )
    (run_dir / "command.json").write_text(json.dumps(command, indent=1) + "\n")
    load_before = host_load.sample()
    started = time.monotonic()
    timed_out = False
    with console_log.open("wb") as log:
        # A session of its own, so a timeout can take QEMU down with vng.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
        deadline = started + timeout_s
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    timed_out = True
                    _stop(process)
                    break
                if progress is not None:
                    progress.guest_tick(run_dir / "results.ktap")
                time.sleep(POLL_S)
        except BaseException:
            _stop(process)
            raise
        finally:
            if module_code is not None:
                module_code.unlink(missing_ok=True)  # megabytes, of use to this boot only
    wall_s = time.monotonic() - started
    load = host_load.beside_guest(load_before, host_load.sample())
    found = tuple(crashes(console_log))
    status_file = run_dir / "status.json"
    guest = json.loads(status_file.read_text()) if status_file.exists() else None
    if timed_out:
        status = "timeout"
    elif guest is not None and "fatal" in guest:
        status = "fatal"
    elif found:
        status = "crashed"
    elif guest is None:  # the side channel: no status file, no trustworthy run
        status = "lost-vm"
    else:
        status = "ok"
    return GuestRun(
        run_dir=run_dir,
        console_log=console_log,
        status=status,
        wall_s=wall_s,
        boot_s=guest["boot_s"] if guest else None,
        pytest_exit=guest["pytest_exit"] if guest else None,
        crashes=found,
        fatal=guest.get("fatal") if guest else None,
        suite_s=guest.get("run_s") if guest else None,
        first_case_s=guest.get("first_case_s") if guest else None,
        host_other_cpu_s=load.get("host_other_cpu_s"),
        host_steal_s=load.get("host_steal_s"),
        guest_fault_us=guest.get("fault_us") if guest else None,
    )
