"""The host side of a VM run: the programs virtme-ng needs, and the accelerator QEMU gets.

virtme-ng is a pip dependency, but what it runs is not: QEMU, a static busybox for its
initramfs, udevd for the guest's /dev, depmod, file(1). Which Debian package brings which
program is data (host_packages.toml); as root the suite installs what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vm.errors import InfraError, UserError

HOST_PACKAGES_FILE = Path(__file__).with_name("host_packages.toml")
QEMU = "qemu-system-x86_64"
ACCEL_ENV = "MEMPOLICY_ACCEL"
APT_INSTALL = ("install", "-y", "--no-install-recommends")
# apt-get's own progress lines are noise in a log that is read after a failure.
APT_UPDATE = ("-q", "update")

Accel = Literal["kvm", "tcg"]
ACCELS: tuple[Accel, ...] = ("kvm", "tcg")

# The KVM probe boots a 64 KiB BIOS that does what every kernel does first: leave real mode
# for protected mode, then long mode with paging. Then it writes to QEMU's isa-debug-exit
# port and QEMU exits with status (value << 1) | 1. On these machines /dev/kvm runs
# real-mode code (a paused -S start or a one-instruction guest passes) but hangs at the
# switch to protected mode, exactly where a distro kernel hangs after "Probing EDD".
PROBE_EXIT_PORT = 0xF4
PROBE_EXIT_VALUE = 0x31
PROBE_EXIT_STATUS = (PROBE_EXIT_VALUE << 1) | 1
# With KVM, vng asks for this CPU model (virtme/architectures.py); it sets MSRs (e.g.
# 0x10a, ARCH_CAPABILITIES) that some hosts refuse, so the probe must ask for it too.
VNG_KVM_CPU = "host,topoext=on"
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class HostTool:
    """One program virtme-ng runs on the host."""

    name: str  # what messages call it
    package: str  # the Debian package that brings it
    names: tuple[str, ...]  # executable names, the first one found is used
    static: bool  # must be statically linked (it runs alone in the initramfs)
    headers: tuple[str, ...] = ()  # C headers it stands for instead, e.g. libelf.h


@dataclass(frozen=True)
class HostRequirements:
    tools: tuple[HostTool, ...]
    search_dirs: tuple[str, ...]  # looked in after PATH
    include_dirs: tuple[str, ...] = ()  # where headers are looked for


@dataclass(frozen=True)
class MissingTool:
    tool: HostTool
    description: str  # for the one-line message, e.g. "busybox (static; ... is dynamic)"


@dataclass(frozen=True)
class AccelChoice:
    accel: Accel
    reason: str  # one line for the run log: why this accelerator


def load_requirements(path: Path = HOST_PACKAGES_FILE, *, table: str = "tools") -> HostRequirements:
    """The tools of one table of the data file: `tools` (virtme-ng's), `build_tools`."""
    with path.open("rb") as stream:
        data = tomllib.load(stream)
    tools = tuple(
        HostTool(
            name=name,
            package=entry["package"],
            names=tuple(entry.get("names", ())),
            static=bool(entry.get("static", False)),
            headers=tuple(entry.get("headers", ())),
        )
        for name, entry in data[table].items()
    )
    return HostRequirements(
        tools=tools,
        search_dirs=tuple(data.get("search_dirs", ())),
        include_dirs=tuple(data.get("include_dirs", ())),
    )


def default_search_path(requirements: HostRequirements) -> str:
    dirs = os.environ.get("PATH", "").split(os.pathsep) + list(requirements.search_dirs)
    return os.pathsep.join(d for d in dirs if d)


def find_tool(tool: HostTool, search_path: str, include_dirs: Sequence[str] = ()) -> Path | None:
    """The executable virtme-ng would pick for `tool` (or, for headers, the first of them
    found), or None."""
    if tool.headers:
        found_headers = [_find_header(header, include_dirs) for header in tool.headers]
        return None if None in found_headers else found_headers[0]
    for name in tool.names:
        found = shutil.which(name, path=search_path)
        if found is not None:
            return Path(found)
    return None


def static_busybox(requirements: HostRequirements | None = None) -> Path | None:
    """The static busybox vng would copy into its initramfs, if this host has one."""
    requirements = requirements if requirements is not None else load_requirements()
    tool = next((t for t in requirements.tools if t.name == "busybox"), None)
    found = find_tool(tool, default_search_path(requirements)) if tool is not None else None
    return found if found is not None and is_static_elf(found) else None


def _find_header(header: str, include_dirs: Sequence[str]) -> Path | None:
    return next((Path(d) / header for d in include_dirs if (Path(d) / header).is_file()), None)


def is_static_elf(path: Path) -> bool:
    """True for an ELF file with no PT_INTERP program header (no dynamic loader)."""
    try:
        with path.open("rb") as stream:
            header = stream.read(64)
            if len(header) < 52 or header[:4] != b"\x7fELF":
                return False
            is_64 = header[4] == 2
            order = "<" if header[5] == 1 else ">"
            if is_64:
                (phoff,) = struct.unpack_from(order + "Q", header, 0x20)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 0x36)
            else:
                (phoff,) = struct.unpack_from(order + "I", header, 0x1C)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 0x2A)
            stream.seek(phoff)
            table = stream.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    for index in range(phnum):
        entry = table[index * phentsize : index * phentsize + 4]
        if len(entry) < 4:
            return False
        if struct.unpack(order + "I", entry)[0] == pt_interp:
            return False
    return True


def missing_tools(requirements: HostRequirements, search_path: str) -> list[MissingTool]:
    """The tools not found (or not usable) on `search_path`, in the data file's order."""
    missing = []
    for tool in requirements.tools:
        found = find_tool(tool, search_path, requirements.include_dirs)
        if found is None:
            missing.append(MissingTool(tool, tool.name))
        elif tool.static and not is_static_elf(found):
            missing.append(
                MissingTool(tool, f"{tool.name} (static; {found} is dynamically linked)")
            )
    return missing


def packages_for(missing: Sequence[MissingTool]) -> list[str]:
    packages = [entry.tool.package for entry in missing]
    return sorted(set(packages), key=packages.index)


def ensure_host_tools(
    *,
    install: bool,
    search_path: str | None = None,
    log_file: Path | None = None,
    requirements_file: Path = HOST_PACKAGES_FILE,
    table: str = "tools",
    what: str = "host tools",
) -> None:
    """Make sure virtme-ng's host programs are there, installing them as root with apt-get.
    With table="build_tools", what a kernel tree build needs (see ensure_build_tools).

    Raises UserError (one line, with the apt-get command) when they are missing and cannot
    be installed here, InfraError when apt-get itself fails.
    """
    requirements = load_requirements(requirements_file, table=table)
    path = search_path if search_path is not None else default_search_path(requirements)
    missing = missing_tools(requirements, path)
    if not missing:
        return
    packages = packages_for(missing)
    apt_get = shutil.which("apt-get", path=path)
    is_root = os.geteuid() == 0
    if not (install and is_root and apt_get is not None):
        raise UserError(
            _missing_tools_message(missing, packages, apt_get is not None, is_root, what)
        )
    log = log_file if log_file is not None else default_log_file()
    run_apt_get(apt_get, APT_UPDATE, log_file=log)
    run_apt_get(apt_get, (*APT_INSTALL, *packages), log_file=log)
    still_missing = missing_tools(requirements, path)
    if still_missing:
        raise InfraError(
            f"apt-get installed {' '.join(packages)} but still missing: "
            f"{', '.join(entry.description for entry in still_missing)}; see {log}"
        )


def ensure_build_tools(
    *, install: bool, search_path: str | None = None, log_file: Path | None = None
) -> None:
    """What building a kernel tree needs (flex, bison, libelf.h, ...), checked before make
    so a fresh machine fails in one line instead of deep in build.log."""
    ensure_host_tools(
        install=install,
        search_path=search_path,
        log_file=log_file,
        table="build_tools",
        what="kernel build tools",
    )


def ensure_guest_tools(
    *, install: bool, search_path: str | None = None, log_file: Path | None = None
) -> str | None:
    """What the guest's cases run (mkfs.xfs, mkfs.btrfs, ...), installed like the host
    tools. Their absence stops no run: the message naming them is returned instead, and
    the cases that need them skip with the reason."""
    try:
        ensure_host_tools(
            install=install,
            search_path=search_path,
            log_file=log_file,
            table="guest_tools",
            what="guest tools",
        )
    except UserError as missing:
        return str(missing)
    return None


def _missing_tools_message(
    missing: Sequence[MissingTool],
    packages: Sequence[str],
    has_apt: bool,
    is_root: bool,
    what: str = "host tools",
) -> str:
    tools = ", ".join(entry.description for entry in missing)
    if not has_apt:
        return f"missing {what}: {tools}; install them (Debian packages: {' '.join(packages)})"
    sudo = "" if is_root else "sudo "
    command = " ".join(("apt-get", *APT_INSTALL, *packages))
    return f"missing {what}: {tools}; fix: {sudo}{command}"


def default_log_file() -> Path:
    return Path.home() / ".cache" / "mempolicy-conformance" / "logs" / "apt-get.log"


def run_apt_get(
    apt_get: str,
    arguments: Sequence[str],
    *,
    log_file: Path,
    cwd: Path | None = None,
    timeout: float = 1800.0,
) -> None:
    """Run apt-get non-interactively, its output appended to `log_file`."""
    command = [apt_get, *arguments]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    shown = " ".join(["apt-get", *arguments])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as log:
        log.write(f"$ {shown}\n")
        log.flush()
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InfraError(f"{shown} took over {timeout:.0f} s; see {log_file}") from None
        except OSError as error:
            raise InfraError(f"{shown} could not start: {error.strerror}") from None
    if result.returncode != 0:
        raise InfraError(f"{shown} failed (exit {result.returncode}); see {log_file}")


def cpu_has_virtualization(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU flags show Intel VT-x (vmx) or AMD-V (svm)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and {"vmx", "svm"} & set(value.split()):
            return True
    return False


def kvm_device_usable(kvm_device: Path = Path("/dev/kvm")) -> bool:
    return kvm_device.exists() and os.access(kvm_device, os.R_OK | os.W_OK)


# QEMU maps a 64 KiB BIOS at 0xF0000 as well as below 4 GiB, and the CPU starts 16 bytes
# from its end, in real mode. Assembled from GNU as source; offsets in the BIOS on the left.
_BIOS_SIZE = 0x10000
_BIOS_BASE = 0xF0000
_RESET_VECTOR = 0xFFF0
_PROTECTED_MODE_ENTRY = 0x1A  # the far jumps below encode these two offsets
_LONG_MODE_ENTRY = 0x73
_GDT = 0x80
_GDT_POINTER = 0xA0
_REAL_MODE_CODE = (  # at 0x00, .code16
    b"\xfa"  # cli
    b"\x2e\x66\x0f\x01\x16\xa0\x00"  # lgdtl %cs:0xa0
    b"\x0f\x20\xc0"  # mov %cr0,%eax
    b"\x66\x83\xc8\x01"  # or $0x1,%eax                  PE
    b"\x0f\x22\xc0"  # mov %eax,%cr0
    b"\x66\xea\x1a\x00\x0f\x00\x08\x00"  # ljmpl $0x8,$0xf001a
)
_PROTECTED_MODE_CODE = (  # at 0x1a, .code32
    b"\x66\xb8\x10\x00"  # mov $0x10,%ax
    b"\x8e\xd8\x8e\xc0\x8e\xd0"  # mov %ax,%ds; mov %ax,%es; mov %ax,%ss
    b"\xc7\x05\x00\x10\x00\x00\x03\x20\x00\x00"  # movl $0x2003,0x1000   PML4[0] -> PDPT
    b"\xc7\x05\x00\x20\x00\x00\x03\x30\x00\x00"  # movl $0x3003,0x2000   PDPT[0] -> PD
    b"\xc7\x05\x00\x30\x00\x00\x83\x00\x00\x00"  # movl $0x83,0x3000     PD[0]: 2 MiB at 0
    b"\x0f\x20\xe0\x83\xc8\x20\x0f\x22\xe0"  # mov %cr4,%eax; or $0x20,%eax; mov %eax,%cr4  PAE
    b"\xb8\x00\x10\x00\x00\x0f\x22\xd8"  # mov $0x1000,%eax; mov %eax,%cr3
    b"\xb9\x80\x00\x00\xc0\x0f\x32"  # mov $0xc0000080,%ecx; rdmsr           EFER
    b"\x0d\x00\x01\x00\x00\x0f\x30"  # or $0x100,%eax; wrmsr                   LME
    b"\x0f\x20\xc0\x0d\x00\x00\x00\x80\x0f\x22\xc0"  # cr0 |= 0x80000000             PG
    b"\xea\x73\x00\x0f\x00\x18\x00"  # ljmp $0x18,$0xf0073
)
_LONG_MODE_CODE = (  # at 0x73, .code64
    bytes([0xB0, PROBE_EXIT_VALUE])  # mov $PROBE_EXIT_VALUE,%al
    + bytes([0xE6, PROBE_EXIT_PORT])  # out %al,$PROBE_EXIT_PORT
    + b"\xf4\xeb\xfd"  # 1: hlt; jmp 1b
)
_GDT_ENTRIES = (
    0,
    0x00CF9A000000FFFF,  # 0x08: flat 32-bit code
    0x00CF92000000FFFF,  # 0x10: flat data
    0x00AF9A000000FFFF,  # 0x18: 64-bit code (L bit)
)
_RESET_CODE = b"\xe9\x0d\x00"  # at 0xfff0: jmp 0x0000 (16-bit wrap-around)


def probe_bios() -> bytes:
    """The KVM probe's BIOS image (see PROBE_EXIT_PORT for what it proves)."""
    bios = bytearray(_BIOS_SIZE)
    code = _REAL_MODE_CODE + _PROTECTED_MODE_CODE
    assert len(_REAL_MODE_CODE) == _PROTECTED_MODE_ENTRY and len(code) == _LONG_MODE_ENTRY
    code += _LONG_MODE_CODE
    assert len(code) <= _GDT
    bios[: len(code)] = code
    gdt = struct.pack(f"<{len(_GDT_ENTRIES)}Q", *_GDT_ENTRIES)
    bios[_GDT : _GDT + len(gdt)] = gdt
    struct.pack_into("<HI", bios, _GDT_POINTER, len(gdt) - 1, _BIOS_BASE + _GDT)
    bios[_RESET_VECTOR : _RESET_VECTOR + len(_RESET_CODE)] = _RESET_CODE
    return bytes(bios)


def probe_accel(
    accel: Accel, *, cpu: str | None = None, qemu: str = QEMU, timeout: float = PROBE_TIMEOUT_S
) -> str | None:
    """Boot the probe BIOS under `accel`; None when it reached long mode, else why not."""
    with tempfile.TemporaryDirectory(prefix="mempolicy-accel-probe-") as scratch:
        bios = Path(scratch) / "probe.bios"
        bios.write_bytes(probe_bios())
        command = [
            qemu, "-accel", accel, "-machine", "q35", "-nodefaults", "-no-user-config",
            "-display", "none", "-m", "16", "-bios", str(bios),
            "-device", f"isa-debug-exit,iobase={PROBE_EXIT_PORT:#x},iosize=0x04",
        ]  # fmt: skip
        if cpu is not None:
            command += ["-cpu", cpu]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as error:
            return f"{qemu} could not start: {error.strerror}"
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.communicate(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass  # stuck in the kernel: nothing more to do than not wait for it
            return f"a {accel} guest did not finish within {timeout:g} s"
    if process.returncode == PROBE_EXIT_STATUS:
        return None
    last_line = (stderr.strip().splitlines() or ["no message"])[-1]
    if process.returncode < 0:
        ending = f"was killed by {signal.Signals(-process.returncode).name}"
    else:
        ending = f"exited {process.returncode}"
    return f"{qemu} -accel {accel} {ending}: {last_line}"


def decide_accel(
    *,
    cpuinfo: Path = Path("/proc/cpuinfo"),
    kvm_device: Path = Path("/dev/kvm"),
    qemu: str = QEMU,
    probe_timeout: float = PROBE_TIMEOUT_S,
) -> AccelChoice:
    """KVM only when it really works, TCG otherwise; MEMPOLICY_ACCEL overrides. Nothing cached."""
    forced = os.environ.get(ACCEL_ENV, "").strip()
    if forced:
        for accel in ACCELS:
            if forced == accel:
                return AccelChoice(accel, f"{ACCEL_ENV}={forced}")
        raise UserError(f"{ACCEL_ENV} must be kvm or tcg, not {forced!r}")
    if not cpu_has_virtualization(cpuinfo):
        return AccelChoice("tcg", f"no vmx or svm in the CPU flags of {cpuinfo}")
    if not kvm_device_usable(kvm_device):
        return AccelChoice("tcg", f"{kvm_device} is missing or not readable and writable")
    failure = probe_accel("kvm", cpu=VNG_KVM_CPU, qemu=qemu, timeout=probe_timeout)
    if failure is not None:
        return AccelChoice("tcg", f"KVM probe failed: {failure}")
    return AccelChoice("kvm", "CPU flags, /dev/kvm and a probe guest all work")


def choose_accel(
    *,
    cpuinfo: Path = Path("/proc/cpuinfo"),
    kvm_device: Path = Path("/dev/kvm"),
    qemu: str = QEMU,
    probe_timeout: float = PROBE_TIMEOUT_S,
) -> Accel:
    """Kvm or tcg: see decide_accel."""
    return decide_accel(
        cpuinfo=cpuinfo, kvm_device=kvm_device, qemu=qemu, probe_timeout=probe_timeout
    ).accel


_QEMU_VERSION = re.compile(r"version (\d+\.\d+(?:\.\d+)?)")


def qemu_version(qemu: str = QEMU) -> str:
    """QEMU's version, e.g. "7.2.22", from the first line of `qemu-system-x86_64 --version`."""
    try:
        result = subprocess.run(
            [qemu, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfraError(f"cannot run {qemu} --version: {error}") from None
    first_line = (result.stdout.splitlines() or [""])[0]
    match = _QEMU_VERSION.search(first_line)
    if result.returncode != 0 or match is None:
        raise InfraError(f"cannot read the QEMU version from {qemu}: {first_line!r}")
    return match.group(1)
