"""vm/kernels.py without a VM or a network: bzImage headers, image paths, and Debian packages
fetched through stub apt-get/apt-cache executables in front of the real dpkg.

Recorded data in tests/data/kernels/: vmlinuz-6.1.0-56-amd64.head is the first 17,716 bytes
of Debian 12's vmlinuz-6.1.0-56-amd64 (up to the end of its version string);
file-vmlinuz-6.1.0-56-amd64.txt is `file -b` on the whole image; apt-cache-*.txt are
apt-cache's answers on Debian 12 (bookworm + bookworm-security) in November 2026.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import write_stub
from vm.apt import HOST_APT, AptSuite, apt_for
from vm.errors import InfraError, UserError
from vm.kernels import (
    STAMP_NAME,
    Kernel,
    debian_sources,
    image_release,
    kernel_from_image,
    read_bzimage_version,
    resolve_debian_package,
    resolve_kernel,
)

DATA = Path(__file__).parent / "data" / "kernels"
DEBIAN_VERSION_STRING = (
    "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC "
    "Debian 6.1.192-2 (2026-11-16)"
)
PACKAGE_6_1 = "linux-image-6.1.0-56-amd64"
RELEASE_6_1 = "6.1.0-56-amd64"
needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None, reason="needs dpkg"
)


def make_bzimage(version: str, *, protocol: int = 0x020F, string_at: int = 0x3000) -> bytes:
    """A synthetic bzImage: just the setup header fields the release is read from."""
    image = bytearray(string_at + len(version) + 0x100)
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, protocol)
    struct.pack_into("<H", image, 0x20E, string_at - 0x200)
    image[string_at : string_at + len(version)] = version.encode()
    return bytes(image)


# --- the bzImage header ---------------------------------------------------------------------


def test_version_from_a_synthetic_bzimage(tmp_path: Path) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(make_bzimage("6.9.0-rc1-mempolicy+ (me@host) #3 SMP"))
    assert read_bzimage_version(image) == "6.9.0-rc1-mempolicy+ (me@host) #3 SMP"
    assert image_release(image) == "6.9.0-rc1-mempolicy+"


def test_version_from_a_recorded_debian_header() -> None:
    head = DATA / "vmlinuz-6.1.0-56-amd64.head"
    assert read_bzimage_version(head) == DEBIAN_VERSION_STRING
    assert image_release(head) == RELEASE_6_1


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(b"\x7fELF" + bytes(0x4000), id="no-HdrS-magic"),
        pytest.param(make_bzimage("6.1.0", protocol=0x0104), id="protocol-before-2.00"),
        pytest.param(make_bzimage("6.1.0")[:0x3002], id="string-cut-off"),
        pytest.param(make_bzimage("")[:0x210], id="pointer-past-the-end"),
        pytest.param(b"HdrS", id="shorter-than-a-header"),
    ],
)
def test_no_version_from_a_header_without_one(tmp_path: Path, image: bytes) -> None:
    path = tmp_path / "image"
    path.write_bytes(image)
    assert read_bzimage_version(path) is None


def test_release_falls_back_to_file_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = DATA / "file-vmlinuz-6.1.0-56-amd64.txt"
    bin_dir = tmp_path / "bin"
    write_stub(bin_dir, "file", f'[ "$1 $2" = "-b -L" ] && /bin/cat {recorded}')
    monkeypatch.setenv("PATH", str(bin_dir))
    image = tmp_path / "vmlinuz"
    image.write_bytes(bytes(0x1000))
    assert image_release(image) == RELEASE_6_1


def test_unknown_image_format_is_one_line_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    write_stub(bin_dir, "file", "echo data")
    monkeypatch.setenv("PATH", str(bin_dir))
    image = tmp_path / "vmlinux"
    image.write_bytes(bytes(0x1000))
    with pytest.raises(UserError) as raised:
        resolve_kernel(str(image), cache_dir=tmp_path / "cache")
    assert str(raised.value) == (
        f"cannot tell the kernel release of {image}: not an x86 bzImage "
        "(give a bzImage/vmlinuz path, or debian:6.1)"
    )


# --- a kernel image path --------------------------------------------------------------------


def test_missing_image_is_one_line_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "arch/x86/boot/bzImage"
    with pytest.raises(UserError) as raised:
        resolve_kernel(str(missing), cache_dir=tmp_path / "cache")
    assert str(raised.value) == (
        f"kernel image not found: {missing} (give a bzImage/vmlinuz path, or debian:6.1)"
    )


def test_image_in_a_root_finds_its_config_and_modules(tmp_path: Path) -> None:
    boot = tmp_path / "root/boot"
    boot.mkdir(parents=True)
    image = boot / f"vmlinuz-{RELEASE_6_1}"
    image.write_bytes(make_bzimage(DEBIAN_VERSION_STRING))
    (boot / f"config-{RELEASE_6_1}").write_text("CONFIG_NUMA=y\n")
    modules = tmp_path / "root/lib/modules" / RELEASE_6_1
    modules.mkdir(parents=True)
    assert resolve_kernel(str(image), cache_dir=tmp_path / "cache") == Kernel(
        image=image,
        release=RELEASE_6_1,
        source=f"image {image}",
        config=boot / f"config-{RELEASE_6_1}",
        modules_dir=modules,
    )


def test_image_of_a_kernel_tree_finds_the_trees_config(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    image = tree / "arch/x86/boot/bzImage"
    image.parent.mkdir(parents=True)
    image.write_bytes(make_bzimage("6.15.0-rc2+ (dev@box) #1 SMP"))
    (tree / ".config").write_text("CONFIG_NUMA=y\n")
    kernel = kernel_from_image(image)
    assert (kernel.release, kernel.config, kernel.modules_dir) == (
        "6.15.0-rc2+",
        tree / ".config",
        None,
    )


def test_bare_image_has_no_config_or_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bzImage").write_bytes(make_bzimage("6.6.0 (a@b) #1"))
    kernel = resolve_kernel("bzImage", cache_dir=tmp_path / "cache")
    assert kernel.image == tmp_path / "bzImage"  # absolute, whatever the caller's cwd
    assert (kernel.config, kernel.modules_dir) == (None, None)


# --- the Debian sources data ----------------------------------------------------------------


def test_unknown_debian_kernel_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        resolve_kernel("debian:5.10", cache_dir=tmp_path)
    assert (
        str(raised.value)
        == "unknown kernel debian:5.10 (known: debian:6.1, debian:6.12, debian:7.2, debian:7.3)"
    )


def test_debian_sources_data() -> None:
    sources = debian_sources()
    assert sources["6.1"].metapackage == "linux-image-amd64"
    assert sources["6.12"].metapackage == "linux-image-6.12-amd64"


@pytest.mark.parametrize(
    ("name", "package", "matches"),
    [
        ("6.1", "linux-image-6.1.0-56-amd64", True),
        ("6.1", "linux-image-6.1.0-56-rt-amd64", False),
        ("6.1", "linux-image-6.1.0-56-cloud-amd64", False),
        ("6.1", "linux-image-6.1.0-56-amd64-dbg", False),
        ("6.1", "linux-image-6.1.0-56-amd64-unsigned", False),
        ("6.12", "linux-image-6.12.117+deb12-amd64", True),
        ("6.12", "linux-image-6.12.117+deb12-rt-amd64", False),
        ("6.12", "linux-image-6.12.117+deb12-cloud-amd64", False),
        ("6.12", "linux-image-6.12.117+deb12-amd64-dbg", False),
        ("6.12", "linux-image-6.12.117+deb12-amd64-unsigned", False),
        ("6.12", "linux-image-6.12-amd64", False),
    ],
)
def test_package_patterns_take_only_the_plain_amd64_image(
    name: str, package: str, matches: bool
) -> None:
    assert bool(re.fullmatch(debian_sources()[name].package_regex, package)) == matches


# --- a fake apt in front of the real dpkg ---------------------------------------------------


@dataclass
class FakeApt:
    """Stub apt-get and apt-cache on PATH. apt-cache answers from the recorded files in
    `answers` (none while `lists_missing` exists, as before a first apt-get update);
    apt-get records its calls, `update` creates the lists, `download` copies from `pool`."""

    state: Path
    answers: Path
    pool: Path

    def calls(self, tool: str) -> list[str]:
        record = self.state / f"{tool}.calls"
        return record.read_text().splitlines() if record.exists() else []

    @property
    def lists_missing(self) -> Path:
        return self.state / "lists-missing"

    def answer(self, query: str, recorded: str, *, suite: str = "") -> None:
        folder = self.answers / suite
        folder.mkdir(exist_ok=True)
        shutil.copy(DATA / recorded, folder / f"{query}.txt")

    def offer(self, deb: Path) -> None:
        shutil.copy(deb, self.pool / deb.name)


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeApt:
    apt = FakeApt(
        state=tmp_path / "apt-state", answers=tmp_path / "answers", pool=tmp_path / "pool"
    )
    for folder in (apt.state, apt.answers, apt.pool):
        folder.mkdir()
    bin_dir = tmp_path / "bin"
    # Options come first ("-o Dir::Etc::sourcelist=<cache>/apt/<suite>/sources.list ..."):
    # with a suite's own configuration, answers come from answers/<suite>/, and only after
    # an `apt-get update` with that configuration (its lists start empty).
    take_options = (
        "suite=\n"
        'while [ "$1" = -o ] || [ "$1" = -q ]; do\n'
        '  [ "$1" = -q ] && { shift; continue; }\n'
        '  case "$2" in Dir::Etc::sourcelist=*) suite=$(/usr/bin/basename $(/usr/bin/dirname '
        '"${2#*=}")) ;; esac\n'
        "  shift 2\n"
        "done\n"
    )
    write_stub(
        bin_dir,
        "apt-cache",
        f'echo "$*" >> {apt.state}/apt-cache.calls\n'
        + take_options
        + f'[ -e {apt.lists_missing} ] && {{ echo "E: No packages found" >&2; exit 100; }}\n'
        f"answers={apt.answers}\n"
        'if [ -n "$suite" ]; then\n'
        f'  [ -e {apt.state}/"$suite".updated ] || exit 100\n'
        '  answers="$answers/$suite"\n'
        "fi\n"
        'case "$1" in\n'
        '  depends) answer="$answers"/depends-"$2".txt ;;\n'
        '  policy) answer="$answers"/policy-"$2".txt ;;\n'
        '  search) answer="$answers"/search.txt ;;\n'
        "esac\n"
        'if [ -e "$answer" ]; then exec /bin/cat "$answer"; fi\n'
        '[ "$1" = search ] || [ "$1" = policy ] || { echo "E: No packages found" >&2; exit 100; }',
    )
    write_stub(
        bin_dir,
        "apt-get",
        f'echo "$DEBIAN_FRONTEND $*" >> {apt.state}/apt-get.calls\n'
        + take_options
        + "for last; do :; done\n"
        'case " $* " in\n'
        f'  *" update "*) /bin/rm -f {apt.lists_missing}; '
        f'[ -n "$suite" ] && /usr/bin/touch {apt.state}/"$suite".updated ;;\n'
        f'  *" download "*) /bin/cp {apt.pool}/"$last"_*.deb . '
        '|| { echo "E: Unable to locate package $last"; exit 100; } ;;\n'
        "esac\n"
        "exit 0",
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return apt


def build_kernel_deb(
    tmp_path: Path, package: str, version: str, release: str, *, with_image: bool = True
) -> Path:
    """A real .deb in Debian's kernel layout, built with dpkg-deb."""
    tree = tmp_path / "deb-trees" / package
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: Test <test@example.org>\nDescription: synthetic kernel for tests\n"
    )
    (tree / "boot").mkdir()
    if with_image:
        (tree / f"boot/vmlinuz-{release}").write_bytes(make_bzimage(f"{release} (t@e) #1 SMP"))
    (tree / f"boot/config-{release}").write_text("CONFIG_NUMA=y\n")
    (tree / "lib/modules" / release / "kernel/mm").mkdir(parents=True)
    (tree / "lib/modules" / release / "kernel/mm/test.ko").write_bytes(b"")
    deb = tmp_path / "debs" / f"{package}_{version}_amd64.deb"
    deb.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def expected_kernel(cache_dir: Path) -> Kernel:
    root = cache_dir / "debian" / PACKAGE_6_1 / "root"
    return Kernel(
        image=root / f"boot/vmlinuz-{RELEASE_6_1}",
        release=RELEASE_6_1,
        source=f"debian:6.1 {PACKAGE_6_1} 6.1.192-2",
        config=root / f"boot/config-{RELEASE_6_1}",
        modules_dir=root / "lib/modules" / RELEASE_6_1,
    )


DOWNLOAD_6_1 = f"noninteractive -q -o APT::Sandbox::User=root download {PACKAGE_6_1}"


@needs_dpkg
def test_debian_kernel_is_downloaded_unpacked_and_cached(tmp_path: Path, fake_apt: FakeApt) -> None:
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    fake_apt.offer(build_kernel_deb(tmp_path, PACKAGE_6_1, "6.1.192-2", RELEASE_6_1))
    cache = tmp_path / "cache"

    assert resolve_kernel("debian:6.1", cache_dir=cache) == expected_kernel(cache)
    package_dir = cache / "debian" / PACKAGE_6_1
    assert fake_apt.calls("apt-get") == [DOWNLOAD_6_1]
    assert list(package_dir.glob("*.deb")) == []  # deleted once unpacked
    assert json.loads((package_dir / STAMP_NAME).read_text()) == {
        "package": PACKAGE_6_1,
        "version": "6.1.192-2",
        "parts": [],
    }
    assert (cache / "debian/apt-get.log").read_text() == (
        f"$ apt-get -q -o APT::Sandbox::User=root download {PACKAGE_6_1}\n"
    )

    # Warm cache: apt-cache is asked again (the distro may have moved on), nothing fetched.
    assert resolve_kernel("debian:6.1", cache_dir=cache) == expected_kernel(cache)
    assert fake_apt.calls("apt-get") == [DOWNLOAD_6_1]


@needs_dpkg
def test_half_extracted_tree_is_redone(tmp_path: Path, fake_apt: FakeApt) -> None:
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    fake_apt.offer(build_kernel_deb(tmp_path, PACKAGE_6_1, "6.1.192-2", RELEASE_6_1))
    cache = tmp_path / "cache"
    resolve_kernel("debian:6.1", cache_dir=cache)
    package_dir = cache / "debian" / PACKAGE_6_1
    (package_dir / STAMP_NAME).unlink()  # as if killed during dpkg -x
    leftover = package_dir / "root/boot/leftover"
    leftover.write_text("from the interrupted run")

    assert resolve_kernel("debian:6.1", cache_dir=cache) == expected_kernel(cache)
    assert fake_apt.calls("apt-get") == [DOWNLOAD_6_1, DOWNLOAD_6_1]
    assert not leftover.exists()


@needs_dpkg
def test_pruned_tree_with_a_stamp_is_fetched_again(tmp_path: Path, fake_apt: FakeApt) -> None:
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    fake_apt.offer(build_kernel_deb(tmp_path, PACKAGE_6_1, "6.1.192-2", RELEASE_6_1))
    cache = tmp_path / "cache"
    resolve_kernel("debian:6.1", cache_dir=cache)
    shutil.rmtree(cache / "debian" / PACKAGE_6_1 / "root")
    assert resolve_kernel("debian:6.1", cache_dir=cache) == expected_kernel(cache)
    assert fake_apt.calls("apt-get") == [DOWNLOAD_6_1, DOWNLOAD_6_1]


@needs_dpkg
def test_apt_lists_are_updated_when_apt_cache_knows_nothing(
    tmp_path: Path, fake_apt: FakeApt
) -> None:
    fake_apt.lists_missing.touch()
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    fake_apt.offer(build_kernel_deb(tmp_path, PACKAGE_6_1, "6.1.192-2", RELEASE_6_1))
    cache = tmp_path / "cache"
    assert resolve_kernel("debian:6.1", cache_dir=cache) == expected_kernel(cache)
    assert fake_apt.calls("apt-get") == ["noninteractive -q update", DOWNLOAD_6_1]


def test_metapackage_resolves_to_the_image_package(tmp_path: Path, fake_apt: FakeApt) -> None:
    fake_apt.answer(
        "depends-linux-image-6.12-amd64", "apt-cache-depends-linux-image-6.12-amd64.txt"
    )
    package = resolve_debian_package(
        debian_sources()["6.12"], log_file=tmp_path / "apt.log", apt=HOST_APT
    )
    assert package == "linux-image-6.12.117+deb12-amd64"
    assert fake_apt.calls("apt-cache") == ["depends linux-image-6.12-amd64"]


def test_without_metapackage_the_newest_matching_package_wins(
    tmp_path: Path, fake_apt: FakeApt
) -> None:
    recorded = (DATA / "apt-cache-search-linux-image-6.12.txt").read_text()
    # 6.12.99 sorts last as text; the version order must still pick 6.12.117.
    (fake_apt.answers / "search.txt").write_text(
        recorded + "linux-image-6.12.99+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)\n"
    )
    source = debian_sources()["6.12"]
    package = resolve_debian_package(source, log_file=tmp_path / "apt.log", apt=HOST_APT)
    assert package == "linux-image-6.12.117+deb12-amd64"
    assert fake_apt.calls("apt-cache")[-1] == f"search --names-only {source.package_regex}"


def test_no_package_even_after_update_is_an_infra_error(tmp_path: Path, fake_apt: FakeApt) -> None:
    with pytest.raises(InfraError) as raised:
        resolve_kernel("debian:6.12", cache_dir=tmp_path / "cache")
    assert str(raised.value).startswith(
        "the host's apt knows no package for debian:6.12: "
        "neither linux-image-6.12-amd64 nor one matching"
    )
    assert fake_apt.calls("apt-get") == ["noninteractive -q update"]


def test_failed_download_is_an_infra_error_and_leaves_no_stamp(
    tmp_path: Path, fake_apt: FakeApt
) -> None:
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    cache = tmp_path / "cache"
    with pytest.raises(InfraError) as raised:
        resolve_kernel("debian:6.1", cache_dir=cache)
    log = cache / "debian/apt-get.log"
    assert str(raised.value) == (
        f"apt-get -q -o APT::Sandbox::User=root download {PACKAGE_6_1} failed (exit 100); see {log}"
    )
    assert f"E: Unable to locate package {PACKAGE_6_1}" in log.read_text()
    assert not (cache / "debian" / PACKAGE_6_1 / STAMP_NAME).exists()


@needs_dpkg
def test_package_without_an_image_gets_no_stamp(tmp_path: Path, fake_apt: FakeApt) -> None:
    fake_apt.answer("depends-linux-image-amd64", "apt-cache-depends-linux-image-amd64.txt")
    fake_apt.offer(
        build_kernel_deb(tmp_path, PACKAGE_6_1, "6.1.192-2", RELEASE_6_1, with_image=False)
    )
    cache = tmp_path / "cache"
    with pytest.raises(InfraError) as raised:
        resolve_kernel("debian:6.1", cache_dir=cache)
    assert str(raised.value) == (
        f"{PACKAGE_6_1} holds 0 boot/vmlinuz-* or usr/lib/modules/*/vmlinuz images, expected one"
    )
    assert not (cache / "debian" / PACKAGE_6_1 / STAMP_NAME).exists()


# --- kernels from a suite the host's apt does not list ---------------------------------------

PACKAGE_7_3 = "linux-image-7.3.4+deb13-amd64"
RELEASE_7_3 = "7.3.4+deb13-amd64"
VERSION_7_3 = "7.3.4-1~bpo13+1"


def build_deb(tmp_path: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    """A real .deb holding `files` (paths relative to its root), built with dpkg-deb."""
    tree = tmp_path / "deb-trees" / package
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: Test <test@example.org>\nDescription: synthetic package for tests\n"
    )
    for name, content in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(content)
    deb = tmp_path / "debs" / f"{package}_{version}_amd64.deb"
    deb.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def offer_split_7_3(tmp_path: Path, fake_apt: FakeApt) -> None:
    """7.x's layout: the image package is documentation; base, binary and modules hold the
    config, the vmlinuz and the modules, all in usr/lib/modules/<release>/."""
    modules = f"usr/lib/modules/{RELEASE_7_3}"
    parts = {
        PACKAGE_7_3: {f"usr/share/doc/{PACKAGE_7_3}/copyright": b"GPL-2\n"},
        f"linux-base-{RELEASE_7_3}": {f"{modules}/config": b"CONFIG_NUMA=y\n"},
        f"linux-binary-{RELEASE_7_3}": {
            f"{modules}/vmlinuz": make_bzimage(f"{RELEASE_7_3} (t@e) #1 SMP")
        },
        f"linux-modules-{RELEASE_7_3}": {f"{modules}/kernel/mm/test.ko": b""},
    }
    for package, files in parts.items():
        fake_apt.offer(build_deb(tmp_path, package, VERSION_7_3, files))


def test_suites_are_data_and_each_kernel_names_one() -> None:
    sources = debian_sources()
    assert (sources["6.1"].suite, sources["6.12"].suite) == (None, None)  # the host's apt
    assert sources["7.2"].suite is not None and sources["7.2"].suite.suite == "sid"
    assert sources["7.3"].suite is not None and sources["7.3"].suite.suite == "trixie-backports"
    assert sources["7.3"].suite.sources_line() == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-trixie-automatic.gpg] "
        "http://deb.debian.org/debian trixie-backports main"
    )


def test_a_suite_gets_an_apt_configuration_of_its_own(tmp_path: Path) -> None:
    suite = debian_sources()["7.3"].suite
    assert suite is not None
    apt = apt_for(suite, cache_dir=tmp_path)
    apt_dir = tmp_path / "apt/trixie-backports"
    assert apt.options == (
        "-o", f"Dir::Etc::sourcelist={apt_dir}/sources.list",
        "-o", "Dir::Etc::sourceparts=-",
        "-o", f"Dir::State::Lists={apt_dir}/lists",
        "-o", f"Dir::Cache={apt_dir}/cache",
        "-o", "Dir::State::status=/var/lib/dpkg/status",
        "-o", "APT::Sandbox::User=root",
    )  # fmt: skip
    assert (apt_dir / "sources.list").read_text() == suite.sources_line() + "\n"
    assert (apt_dir / "lists/partial").is_dir()
    assert apt_for(None, cache_dir=tmp_path) == HOST_APT


def test_a_suite_with_a_missing_keyring_is_a_user_error(tmp_path: Path) -> None:
    suite = AptSuite("x", "http://deb.debian.org/debian", "sid", ("main",), str(tmp_path / "no"))
    with pytest.raises(UserError, match="the keyring of suite x is missing"):
        apt_for(suite, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "package"),
    [("7.2", "linux-image-7.2.13+deb14-amd64"), ("7.3", "linux-image-7.3.4+deb13-amd64")],
)
def test_the_metapackage_resolves_in_the_kernels_own_suite(
    tmp_path: Path, fake_apt: FakeApt, name: str, package: str
) -> None:
    # The same metapackage name, a different image in each suite (recorded answers).
    for suite in ("sid", "trixie-backports"):
        fake_apt.answer(
            "depends-linux-image-amd64", f"apt-cache-depends-linux-image-amd64.{suite}.txt",
            suite=suite,
        )  # fmt: skip
    source = debian_sources()[name]
    assert source.suite is not None
    apt = apt_for(source.suite, cache_dir=tmp_path)
    assert resolve_debian_package(source, log_file=tmp_path / "apt.log", apt=apt) == package
    # Empty lists at first: one update, with the suite's options, then the answer.
    options = " ".join(apt.options)
    assert fake_apt.calls("apt-get") == [f"noninteractive -q {options} update"]
    assert fake_apt.calls("apt-cache")[-1] == f"{options} depends linux-image-amd64"


@needs_dpkg
def test_a_split_7x_kernel_is_fetched_with_its_parts(tmp_path: Path, fake_apt: FakeApt) -> None:
    suite = "trixie-backports"
    fake_apt.answer(
        "depends-linux-image-amd64", f"apt-cache-depends-linux-image-amd64.{suite}.txt", suite=suite
    )
    fake_apt.answer(f"depends-{PACKAGE_7_3}", f"apt-cache-depends-{PACKAGE_7_3}.txt", suite=suite)
    offer_split_7_3(tmp_path, fake_apt)
    cache = tmp_path / "cache"
    kernel = resolve_kernel("debian:7.3", cache_dir=cache)
    package_dir = cache / "debian" / PACKAGE_7_3
    modules = package_dir / "root/usr/lib/modules" / RELEASE_7_3
    assert kernel == Kernel(
        image=modules / "vmlinuz",
        release=RELEASE_7_3,
        source=f"debian:7.3 {PACKAGE_7_3} {VERSION_7_3}",
        config=modules / "config",
        modules_dir=modules,
    )
    parts = [f"linux-{kind}-{RELEASE_7_3}" for kind in ("base", "binary", "modules")]
    assert json.loads((package_dir / STAMP_NAME).read_text())["parts"] == parts
    downloads = [call.split()[-1] for call in fake_apt.calls("apt-get") if " download " in call]
    assert downloads == [PACKAGE_7_3, *parts]
    assert list(package_dir.glob("*.deb")) == []
