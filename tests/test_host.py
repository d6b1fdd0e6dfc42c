"""vm/host.py without a VM: host tools against stub executables, the accelerator choice
against recorded /proc/cpuinfo files and stub QEMUs.

Recorded data in tests/data/kernels/host/: cpuinfo-amd-epyc-firecracker.txt is the
/proc/cpuinfo of the machines this suite is developed on (an AMD EPYC guest with /dev/kvm
but no svm flag); cpuinfo-intel-xeon-vmx.txt is hand-made in the same format, a Skylake-SP
block with vmx; qemu-version-debian12.txt is `qemu-system-x86_64 --version` on Debian 12.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.helpers import write_stub
from vm.errors import InfraError, UserError
from vm.host import (
    ACCEL_ENV,
    HOST_PACKAGES_FILE,
    PROBE_EXIT_PORT,
    PROBE_EXIT_STATUS,
    PROBE_EXIT_VALUE,
    VNG_KVM_CPU,
    choose_accel,
    cpu_has_virtualization,
    decide_accel,
    ensure_guest_tools,
    ensure_host_tools,
    is_static_elf,
    load_requirements,
    missing_tools,
    probe_accel,
    probe_bios,
    qemu_version,
    static_busybox,
)

DATA = Path(__file__).parent / "data" / "kernels" / "host"
CPUINFO_NO_VIRT = DATA / "cpuinfo-amd-epyc-firecracker.txt"
CPUINFO_VMX = DATA / "cpuinfo-intel-xeon-vmx.txt"
PT_LOAD = 1
PT_INTERP = 3
EVERY_TOOL = ("qemu-system-x86_64", "busybox", "systemd-udevd", "depmod", "file")


def elf64(program_header_types: Iterable[int]) -> bytes:
    """A minimal ELF64 executable header and program header table (no code)."""
    types = list(program_header_types)
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"  # 64-bit, little endian, version 1
    struct.pack_into("<HHI", header, 16, 2, 0x3E, 1)  # ET_EXEC, x86-64
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff: right after this header
    struct.pack_into("<HH", header, 0x36, 56, len(types))  # e_phentsize, e_phnum
    table = b"".join(struct.pack("<I", kind).ljust(56, b"\0") for kind in types)
    return bytes(header) + table


def write_elf(directory: Path, name: str, *, static: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(elf64([PT_LOAD] if static else [PT_INTERP, PT_LOAD]))
    path.chmod(0o755)
    return path


def install_tools(directory: Path, names: Iterable[str]) -> None:
    for name in names:
        if name == "busybox":
            write_elf(directory, name, static=True)
        else:
            write_stub(directory, name, "exit 0")


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)


@pytest.fixture
def fake_apt(tmp_path: Path) -> Path:
    """A bin dir whose apt-get records its calls and "installs" what the pool dir holds."""
    bin_dir = tmp_path / "bin"
    pool = tmp_path / "pool"
    install_tools(pool, ["busybox", "systemd-udevd"])
    write_stub(
        bin_dir,
        "apt-get",
        f'echo "$DEBIAN_FRONTEND $*" >> {tmp_path}/apt-get.calls\n'
        f'if [ "$1" = install ]; then /bin/cp {pool}/* {bin_dir}/; fi',
    )
    return bin_dir


def apt_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "apt-get.calls"
    return calls.read_text().splitlines() if calls.exists() else []


# --- host tools -----------------------------------------------------------------------------


def test_the_guest_s_busybox_is_the_static_one_vng_would_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = dataclasses.replace(load_requirements(), search_dirs=())
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert static_busybox(requirements) is None
    write_elf(tmp_path / "bin", "busybox", static=False)
    assert static_busybox(requirements) is None  # vng refuses a dynamic one: so do we
    static = write_elf(tmp_path / "bin", "busybox.static", static=True)
    assert static_busybox(requirements) == static


def test_data_file_maps_each_tool_to_its_debian_package() -> None:
    requirements = load_requirements()
    assert {tool.name: tool.package for tool in requirements.tools} == {
        "qemu-system-x86_64": "qemu-system-x86",
        "busybox": "busybox-static",
        "udevd": "udev",
        "depmod": "kmod",
        "file": "file",
    }
    assert [tool.name for tool in requirements.tools if tool.static] == ["busybox"]
    assert "/lib/systemd" in requirements.search_dirs  # where virtme-ng's init finds udevd


def test_nothing_missing_runs_no_apt_get(tmp_path: Path, fake_apt: Path, as_root: None) -> None:
    install_tools(fake_apt, EVERY_TOOL)
    ensure_host_tools(install=True, search_path=str(fake_apt), log_file=tmp_path / "apt.log")
    assert apt_calls(tmp_path) == []


def test_missing_tools_are_installed_with_apt_get(
    tmp_path: Path, fake_apt: Path, as_root: None
) -> None:
    install_tools(fake_apt, ["qemu-system-x86_64", "depmod", "file"])
    log = tmp_path / "logs" / "apt.log"
    ensure_host_tools(install=True, search_path=str(fake_apt), log_file=log)
    assert apt_calls(tmp_path) == [
        "noninteractive -q update",
        "noninteractive install -y --no-install-recommends busybox-static udev",
    ]
    assert log.read_text().splitlines() == [
        "$ apt-get -q update",
        "$ apt-get install -y --no-install-recommends busybox-static udev",
    ]
    assert missing_tools(load_requirements(), str(fake_apt)) == []


def test_missing_tools_without_install_is_one_line_with_the_fix(
    tmp_path: Path, fake_apt: Path, as_root: None
) -> None:
    install_tools(fake_apt, ["qemu-system-x86_64", "depmod"])
    with pytest.raises(UserError) as raised:
        ensure_host_tools(install=False, search_path=str(fake_apt))
    assert str(raised.value) == (
        "missing host tools: busybox, udevd, file; "
        "fix: apt-get install -y --no-install-recommends busybox-static udev file"
    )
    assert apt_calls(tmp_path) == []


def test_not_root_gets_the_sudo_command(
    tmp_path: Path, fake_apt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    install_tools(fake_apt, ["busybox", "systemd-udevd", "depmod", "file"])
    with pytest.raises(UserError) as raised:
        ensure_host_tools(install=True, search_path=str(fake_apt))
    assert str(raised.value) == (
        "missing host tools: qemu-system-x86_64; "
        "fix: sudo apt-get install -y --no-install-recommends qemu-system-x86"
    )
    assert apt_calls(tmp_path) == []


def test_no_apt_get_names_the_debian_packages(tmp_path: Path, as_root: None) -> None:
    bin_dir = tmp_path / "bin"
    install_tools(bin_dir, ["qemu-system-x86_64", "busybox", "systemd-udevd", "file"])
    with pytest.raises(UserError) as raised:
        ensure_host_tools(install=True, search_path=str(bin_dir))
    assert str(raised.value) == "missing host tools: depmod; install them (Debian packages: kmod)"


def test_failed_apt_get_is_an_infra_error_naming_packages_and_log(
    tmp_path: Path, as_root: None
) -> None:
    bin_dir = tmp_path / "bin"
    install_tools(bin_dir, ["qemu-system-x86_64", "busybox", "depmod", "file"])
    write_stub(bin_dir, "apt-get", 'echo "E: Unable to locate package udev"\n[ "$1" != install ]')
    log = tmp_path / "apt.log"
    with pytest.raises(InfraError) as raised:
        ensure_host_tools(install=True, search_path=str(bin_dir), log_file=log)
    assert str(raised.value) == (
        f"apt-get install -y --no-install-recommends udev failed (exit 1); see {log}"
    )
    assert "E: Unable to locate package udev" in log.read_text()


def test_apt_get_that_installs_nothing_is_an_infra_error(tmp_path: Path, as_root: None) -> None:
    bin_dir = tmp_path / "bin"
    install_tools(bin_dir, ["qemu-system-x86_64", "busybox", "systemd-udevd", "depmod"])
    write_stub(bin_dir, "apt-get", "exit 0")
    with pytest.raises(InfraError, match=r"apt-get installed file but still missing: file; see "):
        ensure_host_tools(install=True, search_path=str(bin_dir), log_file=tmp_path / "apt.log")


BUILD_PROGRAMS = (
    "make",
    "gcc",
    "flex",
    "bison",
    "bc",
    "perl",
    "python3",
    "cpio",
    "xz",
    "zstd",
    "patch",
)
BUILD_HEADERS = ("stdio.h", "libelf.h", "gelf.h", "openssl/ssl.h", "openssl/opensslconf.h")


def build_requirements(tmp_path: Path, headers: Iterable[str]) -> Path:
    """The real data file, its include_dirs pointing at a folder holding `headers`."""
    include = tmp_path / "include"
    for header in headers:
        (include / header).parent.mkdir(parents=True, exist_ok=True)
        (include / header).write_text("/* stub */\n")
    text = HOST_PACKAGES_FILE.read_text()
    data = tmp_path / "host_packages.toml"
    data.write_text(re.sub(r"(?m)^include_dirs = .*$", f'include_dirs = ["{include}"]', text))
    return data


def test_build_tools_name_programs_and_headers_in_one_line(
    tmp_path: Path, fake_apt: Path, as_root: None
) -> None:
    bin_dir = fake_apt
    install_tools(bin_dir, [name for name in BUILD_PROGRAMS if name not in ("flex", "bison")])
    data = build_requirements(tmp_path, [h for h in BUILD_HEADERS if h != "libelf.h"])
    with pytest.raises(UserError) as raised:
        ensure_host_tools(
            install=False,
            search_path=str(bin_dir),
            requirements_file=data,
            table="build_tools",
            what="kernel build tools",
        )
    assert str(raised.value) == (
        "missing kernel build tools: flex, bison, libelf; "
        "fix: apt-get install -y --no-install-recommends flex bison libelf-dev"
    )


def test_build_tools_all_there_run_no_apt_get(
    tmp_path: Path, fake_apt: Path, as_root: None
) -> None:
    install_tools(fake_apt, BUILD_PROGRAMS)
    data = build_requirements(tmp_path, BUILD_HEADERS)
    ensure_host_tools(
        install=True,
        search_path=str(fake_apt),
        requirements_file=data,
        table="build_tools",
        log_file=tmp_path / "apt.log",
    )
    assert apt_calls(tmp_path) == []


def test_build_tools_data_covers_a_defconfig_build() -> None:
    tools = {tool.name: tool for tool in load_requirements(table="build_tools").tools}
    assert {"flex", "bison", "bc", "libelf", "openssl", "make", "gcc"} <= set(tools)
    assert tools["libelf"].headers == ("libelf.h", "gelf.h") and not tools["libelf"].names
    assert tools["openssl"].package == "libssl-dev"


def test_dynamic_busybox_counts_as_missing(tmp_path: Path, as_root: None) -> None:
    bin_dir = tmp_path / "bin"
    install_tools(bin_dir, ["qemu-system-x86_64", "systemd-udevd", "depmod", "file"])
    write_stub(bin_dir, "apt-get", "exit 0")
    dynamic = write_elf(bin_dir, "busybox", static=False)
    with pytest.raises(UserError) as raised:
        ensure_host_tools(install=False, search_path=str(bin_dir))
    assert str(raised.value) == (
        f"missing host tools: busybox (static; {dynamic} is dynamically linked); "
        "fix: apt-get install -y --no-install-recommends busybox-static"
    )


def test_busybox_static_wins_over_a_dynamic_busybox_as_in_virtme_ng(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    install_tools(bin_dir, EVERY_TOOL)
    write_elf(bin_dir, "busybox", static=False)
    write_elf(bin_dir, "busybox-static", static=True)
    assert missing_tools(load_requirements(), str(bin_dir)) == []


def test_static_elf_detection(tmp_path: Path) -> None:
    assert is_static_elf(write_elf(tmp_path, "static", static=True))
    assert not is_static_elf(write_elf(tmp_path, "dynamic", static=False))
    assert not is_static_elf(write_stub(tmp_path, "script", "exit 0"))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(elf64([PT_LOAD])[:40])
    assert not is_static_elf(truncated)
    assert not is_static_elf(tmp_path / "absent")


# --- accelerator ----------------------------------------------------------------------------


@pytest.fixture
def no_accel_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACCEL_ENV, raising=False)


@pytest.fixture
def fake_kvm(tmp_path: Path) -> Path:
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    return device


def stub_qemu(tmp_path: Path, body: str) -> Path:
    """A QEMU that records its arguments and a copy of the -bios file, then runs `body`."""
    return write_stub(
        tmp_path / "qemu-bin",
        "qemu-system-x86_64",
        f'echo "$*" > {tmp_path}/qemu.args\n'
        'previous=""\n'
        "for argument; do\n"
        f'  if [ "$previous" = -bios ]; then /bin/cp "$argument" {tmp_path}/qemu.bios; fi\n'
        '  previous="$argument"\n'
        "done\n" + body,
    )


def test_cpu_flags_from_recorded_cpuinfo(tmp_path: Path) -> None:
    assert not cpu_has_virtualization(CPUINFO_NO_VIRT)
    assert cpu_has_virtualization(CPUINFO_VMX)
    assert not cpu_has_virtualization(tmp_path / "absent")


def test_no_vmx_or_svm_means_tcg_without_a_probe(
    tmp_path: Path, fake_kvm: Path, no_accel_override: None
) -> None:
    qemu = stub_qemu(tmp_path, f"exit {PROBE_EXIT_STATUS}")
    choice = decide_accel(cpuinfo=CPUINFO_NO_VIRT, kvm_device=fake_kvm, qemu=str(qemu))
    assert choice.accel == "tcg"
    assert choice.reason == f"no vmx or svm in the CPU flags of {CPUINFO_NO_VIRT}"
    assert not (tmp_path / "qemu.args").exists()


def test_missing_kvm_device_means_tcg(tmp_path: Path, no_accel_override: None) -> None:
    qemu = stub_qemu(tmp_path, f"exit {PROBE_EXIT_STATUS}")
    accel = choose_accel(cpuinfo=CPUINFO_VMX, kvm_device=tmp_path / "no-kvm", qemu=str(qemu))
    assert accel == "tcg"
    assert not (tmp_path / "qemu.args").exists()


def test_kvm_when_flags_device_and_probe_all_work(
    tmp_path: Path, fake_kvm: Path, no_accel_override: None
) -> None:
    qemu = stub_qemu(tmp_path, f"exit {PROBE_EXIT_STATUS}")
    assert choose_accel(cpuinfo=CPUINFO_VMX, kvm_device=fake_kvm, qemu=str(qemu)) == "kvm"
    arguments = (tmp_path / "qemu.args").read_text().split()
    assert arguments[:2] == ["-accel", "kvm"]
    assert arguments[arguments.index("-cpu") + 1] == VNG_KVM_CPU
    assert f"isa-debug-exit,iobase={PROBE_EXIT_PORT:#x},iosize=0x04" in arguments
    assert (tmp_path / "qemu.bios").read_bytes() == probe_bios()


def test_hanging_kvm_probe_is_killed_and_means_tcg(
    tmp_path: Path, fake_kvm: Path, no_accel_override: None
) -> None:
    qemu = stub_qemu(tmp_path, "exec /bin/sleep 60")
    started = time.monotonic()
    choice = decide_accel(
        cpuinfo=CPUINFO_VMX, kvm_device=fake_kvm, qemu=str(qemu), probe_timeout=0.5
    )
    assert time.monotonic() - started < 5
    assert choice.accel == "tcg"
    assert choice.reason == "KVM probe failed: a kvm guest did not finish within 0.5 s"


def test_crashing_kvm_probe_means_tcg_with_qemus_last_words(
    tmp_path: Path, fake_kvm: Path, no_accel_override: None
) -> None:
    # What QEMU 7.2 does on these machines with vng's `-cpu host`.
    qemu = stub_qemu(
        tmp_path,
        'echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2\n'
        'echo "qemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed." >&2\n'
        "kill -ABRT $$",
    )
    choice = decide_accel(cpuinfo=CPUINFO_VMX, kvm_device=fake_kvm, qemu=str(qemu))
    assert choice.accel == "tcg"
    assert choice.reason == (
        f"KVM probe failed: {qemu} -accel kvm was killed by SIGABRT: "
        "qemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed."
    )


def test_environment_overrides_the_choice(
    tmp_path: Path, fake_kvm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qemu = stub_qemu(tmp_path, f"exit {PROBE_EXIT_STATUS}")
    monkeypatch.setenv(ACCEL_ENV, "tcg")
    assert choose_accel(cpuinfo=CPUINFO_VMX, kvm_device=fake_kvm, qemu=str(qemu)) == "tcg"
    monkeypatch.setenv(ACCEL_ENV, "kvm")
    assert choose_accel(cpuinfo=CPUINFO_NO_VIRT, kvm_device=fake_kvm, qemu=str(qemu)) == "kvm"
    assert not (tmp_path / "qemu.args").exists()
    monkeypatch.setenv(ACCEL_ENV, "hvf")
    with pytest.raises(UserError) as raised:
        choose_accel(cpuinfo=CPUINFO_VMX, kvm_device=fake_kvm, qemu=str(qemu))
    assert str(raised.value) == "MEMPOLICY_ACCEL must be kvm or tcg, not 'hvf'"


def test_probe_bios_layout() -> None:
    bios = probe_bios()
    assert len(bios) == 0x10000
    assert bios[0xFFF0:0xFFF3] == b"\xe9\x0d\x00"  # the reset vector jumps to offset 0
    assert bytes([0xB0, PROBE_EXIT_VALUE, 0xE6, PROBE_EXIT_PORT]) in bios[:0x80]
    assert struct.unpack_from("<HI", bios, 0xA0) == (4 * 8 - 1, 0xF0000 + 0x80)


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_probe_bios_reaches_long_mode_under_tcg() -> None:
    """The one test that runs QEMU: about 0.1 s, no kernel, proves the BIOS bytes."""
    assert probe_accel("tcg", timeout=30) is None


def test_qemu_version_from_recorded_output(tmp_path: Path) -> None:
    recorded = DATA / "qemu-version-debian12.txt"
    qemu = write_stub(tmp_path, "qemu-system-x86_64", f"/bin/cat {recorded}")
    assert qemu_version(str(qemu)) == "7.2.22"


def test_qemu_version_failures_are_infra_errors(tmp_path: Path) -> None:
    garbled = write_stub(tmp_path, "qemu-garbled", "echo hello")
    with pytest.raises(InfraError, match="cannot read the QEMU version"):
        qemu_version(str(garbled))
    with pytest.raises(InfraError, match="cannot run"):
        qemu_version(str(tmp_path / "absent"))


def test_guest_tools_are_data_and_their_absence_stops_no_run(fake_apt: Path) -> None:
    requirements = load_requirements(table="guest_tools")
    assert {tool.name: tool.package for tool in requirements.tools} == {
        "mkfs-ext4": "e2fsprogs",
        "mkfs-xfs": "xfsprogs",
        "mkfs-btrfs": "btrfs-progs",
        "losetup": "mount",
    }
    message = ensure_guest_tools(install=False, search_path=str(fake_apt))
    assert message is not None and "xfsprogs" in message and "btrfs-progs" in message
