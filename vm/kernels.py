"""Kernel acquisition: a kernel image the user names, or a Debian kernel package in a cache.

A Debian package is unpacked with `dpkg -x` and kept in that layout, root/boot/vmlinuz-R
and root/lib/modules/R (up to 6.x) or root/usr/lib/modules/R/{vmlinuz,config} (7.x): virtme-ng,
given the image, finds the modules itself in either layout and runs depmod over them.
Which Debian kernels exist by name is data (kernel_sources.toml);
one from a suite the host's apt does not list is fetched through an apt configuration of that
suite's own (vm/apt.py).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vm.apt import Apt, AptSuite, apt_for, load_suites
from vm.errors import InfraError, UserError
from vm.locking import locked

KERNEL_SOURCES_FILE = Path(__file__).with_name("kernel_sources.toml")
DEBIAN_PREFIX = "debian:"
# Written after a complete extraction: a tree without it is half done and is redone.
STAMP_NAME = "extracted.json"
DPKG_TIMEOUT_S = 600.0

# The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst): "HdrS" at 0x202,
# the protocol version at 0x206 and, from protocol 2.00 on, at 0x20E the offset less 0x200
# of a NUL-terminated string that starts with the release: "6.1.0-56-amd64 (debian-kernel@...".
BZIMAGE_MAGIC = b"HdrS"
BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_PROTOCOL_OFFSET = 0x206
BZIMAGE_VERSION_POINTER_OFFSET = 0x20E
BZIMAGE_VERSION_BASE = 0x200
BZIMAGE_MIN_PROTOCOL = 0x0200
# The pointer is 16 bits, so the string starts within this many bytes.
BZIMAGE_HEADER_READ = BZIMAGE_VERSION_BASE + 0x10000 + 256


@dataclass(frozen=True)
class Kernel:
    image: Path  # the bzImage/vmlinuz to boot
    release: str  # its `uname -r`
    source: str  # where it came from, for reports: "debian:6.1 linux-image-... 6.1.192-2"
    config: Path | None  # the .config it was built with, when known
    modules_dir: Path | None  # its lib/modules/<release>, when shipped beside the image


@dataclass(frozen=True)
class DebianSource:
    name: str  # as in debian:<name>
    description: str
    metapackage: str  # `apt-cache depends` on it names today's image package
    package_regex: str  # image packages it may resolve to; the newest is the fallback
    suite: AptSuite | None  # None: the host's apt; else apt configured for that suite alone


def resolve_kernel(spec: str, *, cache_dir: Path) -> Kernel:
    """The kernel `spec` names: `debian:<name>` (fetched into `cache_dir`) or an image path."""
    if spec.startswith(DEBIAN_PREFIX):
        sources = debian_sources()
        name = spec.removeprefix(DEBIAN_PREFIX)
        if name not in sources:
            known = ", ".join(DEBIAN_PREFIX + known_name for known_name in sources)
            raise UserError(f"unknown kernel {spec} (known: {known})")
        return fetch_debian_kernel(sources[name], cache_dir=cache_dir)
    return kernel_from_image(Path(spec).expanduser())


def load_kernel_sources(path: Path = KERNEL_SOURCES_FILE) -> dict[str, Any]:
    with path.open("rb") as stream:
        return tomllib.load(stream)


def suite_of(entry: Mapping[str, Any], suites: Mapping[str, AptSuite]) -> AptSuite | None:
    """The suite a kernel_sources.toml entry names, None for the host's apt."""
    name = entry.get("suite")
    if name is None:
        return None
    if name not in suites:
        raise UserError(
            f"{KERNEL_SOURCES_FILE.name} names suite {name!r}, which its [suites] table lacks "
            f"(known: {', '.join(suites)})"
        )
    return suites[name]


def debian_sources(path: Path = KERNEL_SOURCES_FILE) -> dict[str, DebianSource]:
    data = load_kernel_sources(path)
    suites = load_suites(data)
    return {
        name: DebianSource(
            name=name,
            description=entry["description"],
            metapackage=entry["metapackage"],
            package_regex=entry["package_regex"],
            suite=suite_of(entry, suites),
        )
        for name, entry in data["debian"].items()
    }


# --- a kernel image the user names -------------------------------------------------------


def kernel_from_image(image: Path) -> Kernel:
    if not image.is_file():
        raise UserError(
            f"kernel image not found: {image} (give a bzImage/vmlinuz path, or debian:6.1)"
        )
    image = image.absolute()
    release = image_release(image)
    return Kernel(
        image=image,
        release=release,
        source=f"image {image}",
        config=_first_file(_config_candidates(image, release)),
        modules_dir=_modules_dir(image, release),
    )


def _config_candidates(image: Path, release: str) -> list[Path]:
    candidates = [image.parent / f"config-{release}", image.parent / ".config"]
    if _is_modules_dir_image(image, release):  # usr/lib/modules/R/vmlinuz beside its config
        candidates.append(image.parent / "config")
    # A tree's own build: <tree>/arch/x86/boot/bzImage, its .config at the top.
    if image.parent.name == "boot" and image.parent.parent.parent.name == "arch":
        candidates.append(image.parents[3] / ".config")
    return candidates


def _modules_dir(image: Path, release: str) -> Path | None:
    """lib/modules/<release> of the root an image in <root>/boot belongs to, or the folder
    of an image in lib/modules/<release>."""
    if _is_modules_dir_image(image, release):
        return image.parent
    if image.parent.name != "boot":
        return None
    root = image.parent.parent
    return _first_dir([root / "lib/modules" / release, root / "usr/lib/modules" / release])


def _is_modules_dir_image(image: Path, release: str) -> bool:
    return image.parent.name == release and image.parent.parent.name == "modules"


def _first_file(candidates: Sequence[Path]) -> Path | None:
    return next((path for path in candidates if path.is_file()), None)


def _first_dir(candidates: Sequence[Path]) -> Path | None:
    return next((path for path in candidates if path.is_dir()), None)


def image_release(image: Path) -> str:
    """The `uname -r` of a kernel image: from its bzImage header, else from file(1)."""
    version = read_bzimage_version(image) or _file_command_version(image)
    if not version:
        raise UserError(
            f"cannot tell the kernel release of {image}: not an x86 bzImage "
            "(give a bzImage/vmlinuz path, or debian:6.1)"
        )
    return version.split()[0]


def read_bzimage_version(image: Path) -> str | None:
    """The kernel_version string of an x86 bzImage's setup header, or None if it has none."""
    try:
        with image.open("rb") as stream:
            header = stream.read(BZIMAGE_HEADER_READ)
    except OSError:
        return None
    if len(header) < BZIMAGE_VERSION_POINTER_OFFSET + 2:
        return None
    if header[BZIMAGE_MAGIC_OFFSET : BZIMAGE_MAGIC_OFFSET + 4] != BZIMAGE_MAGIC:
        return None
    (protocol,) = struct.unpack_from("<H", header, BZIMAGE_PROTOCOL_OFFSET)
    (pointer,) = struct.unpack_from("<H", header, BZIMAGE_VERSION_POINTER_OFFSET)
    if protocol < BZIMAGE_MIN_PROTOCOL or pointer == 0:
        return None
    start = BZIMAGE_VERSION_BASE + pointer
    end = header.find(b"\0", start)
    if end <= start:
        return None
    text = header[start:end].decode("ascii", errors="replace")
    return text if text.isprintable() and text.strip() else None


_FILE_VERSION = re.compile(r"^[vV]ersion (\S{3,})")


def _file_command_version(image: Path) -> str | None:
    """file(1) knows more image formats than the header read; virtme-ng relies on it too."""
    try:
        result = subprocess.run(
            ["file", "-b", "-L", str(image)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for item in result.stdout.split(", "):
        match = _FILE_VERSION.match(item.strip())
        if match:
            return match.group(1)
    return None


# --- a Debian kernel package ---------------------------------------------------------------


def fetch_debian_kernel(source: DebianSource, *, cache_dir: Path) -> Kernel:
    """Download and unpack the package `source` resolves to, unless the cache has it."""
    if shutil.which("apt-cache") is None:
        raise UserError(
            f"{DEBIAN_PREFIX}{source.name} needs apt (apt-get, apt-cache, dpkg); "
            "on this host give a bzImage/vmlinuz path"
        )
    debian_dir = cache_dir / "debian"
    debian_dir.mkdir(parents=True, exist_ok=True)
    log_file = debian_dir / "apt-get.log"
    apt = apt_for(source.suite, cache_dir=cache_dir)
    package = resolve_debian_package(source, log_file=log_file, apt=apt)
    package_dir = debian_dir / package
    package_dir.mkdir(exist_ok=True)
    with locked(package_dir / ".lock"):
        stamp = package_dir / STAMP_NAME
        # A stamp without its image means someone pruned the tree by hand: fetch again.
        if not (stamp.is_file() and _images_in_tree(package_dir / "root")):
            _download_and_extract(package, package_dir, log_file=log_file, apt=apt)
        version = json.loads(stamp.read_text())["version"]
    kernel = kernel_from_image(_image_in_tree(package_dir / "root", package))
    return Kernel(
        image=kernel.image,
        release=kernel.release,
        source=f"{DEBIAN_PREFIX}{source.name} {package} {version}",
        config=kernel.config,
        modules_dir=kernel.modules_dir,
    )


def resolve_debian_package(source: DebianSource, *, log_file: Path, apt: Apt) -> str:
    """The image package `source` means today, refreshing apt's lists once if needed."""
    package = _find_debian_package(source, apt)
    if package is None:
        apt.update(log_file=log_file)  # lists missing or stale
        package = _find_debian_package(source, apt)
    if package is None:
        raise InfraError(
            f"{apt.label} knows no package for {DEBIAN_PREFIX}{source.name}: neither "
            f"{source.metapackage} nor one matching {source.package_regex}; check the apt sources"
        )
    return package


def _find_debian_package(source: DebianSource, apt: Apt) -> str | None:
    return _metapackage_target(source, apt) or _newest_matching_package(source, apt)


def _metapackage_target(source: DebianSource, apt: Apt) -> str | None:
    output = apt.cache(["depends", source.metapackage])
    for line in output.splitlines():
        # "  Depends: linux-image-6.1.0-56-amd64"; "|Depends:" opens an or-group
        key, _, value = line.strip().lstrip("|").partition(":")
        if key == "Depends" and re.fullmatch(source.package_regex, value.strip()):
            return value.strip()
    return None


def _newest_matching_package(source: DebianSource, apt: Apt) -> str | None:
    output = apt.cache(["search", "--names-only", source.package_regex])
    names = [line.split(" - ", 1)[0].strip() for line in output.splitlines()]
    matching = [name for name in names if re.fullmatch(source.package_regex, name)]
    return max(matching, key=_numbers_in, default=None)


def _numbers_in(name: str) -> tuple[int, ...]:
    """Orders linux-image-6.12.99 before linux-image-6.12.117, as text would not."""
    return tuple(int(number) for number in re.findall(r"\d+", name))


def _download_and_extract(package: str, package_dir: Path, *, log_file: Path, apt: Apt) -> None:
    root = package_dir / "root"
    (package_dir / STAMP_NAME).unlink(missing_ok=True)
    for stale in package_dir.glob("*.deb"):
        stale.unlink()
    shutil.rmtree(root, ignore_errors=True)
    parts = package_parts(package, apt)
    debs = [download_deb(apt, name, package_dir, log_file=log_file) for name in (package, *parts)]
    version = run_checked(["dpkg-deb", "--field", str(debs[0]), "Version"]).strip()
    for deb in debs:
        run_checked(["dpkg", "-x", str(deb), str(root)])
    _image_in_tree(root, package)  # an unusable package must not get a stamp
    stamp_text = json.dumps({"package": package, "version": version, "parts": parts}) + "\n"
    partial_stamp = package_dir / (STAMP_NAME + ".partial")
    partial_stamp.write_text(stamp_text)
    partial_stamp.rename(package_dir / STAMP_NAME)
    for deb in debs:
        deb.unlink()


def package_parts(package: str, apt: Apt) -> list[str]:
    """The packages that hold what `package` stands for: its Depends of the same ABI.

    Up to 6.x, linux-image-<abi> holds boot/vmlinuz-<abi> and the modules and has none.
    From 7.x (trixie-backports, sid), it is 2 kB of documentation that depends on
    linux-base-<abi> (config, System.map), linux-binary-<abi> (the signed vmlinuz) and
    linux-modules-<abi>; all of them go into the same root.
    """
    abi = package.removeprefix("linux-image-")
    parts: list[str] = []
    for line in apt.cache(["depends", package]).splitlines():
        key, _, value = line.strip().lstrip("|").partition(":")
        name = value.strip()
        if key == "Depends" and name.endswith(f"-{abi}") and name not in (package, *parts):
            parts.append(name)
    return parts


def download_deb(apt: Apt, package: str, into: Path, *, log_file: Path) -> Path:
    """apt-get download `package` into `into`; the one .deb it left there."""
    apt.download(package, into=into, log_file=log_file)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise InfraError(
            f"apt-get download {package} left {len(debs)} matching .deb files in {into}; "
            f"see {log_file}"
        )
    return debs[0]


def _images_in_tree(root: Path) -> list[Path]:
    return sorted((root / "boot").glob("vmlinuz-*")) + sorted(
        (root / "usr/lib/modules").glob("*/vmlinuz")
    )


def _image_in_tree(root: Path, package: str) -> Path:
    images = _images_in_tree(root)
    if len(images) != 1:
        raise InfraError(
            f"{package} holds {len(images)} boot/vmlinuz-* or usr/lib/modules/*/vmlinuz images, "
            "expected one"
        )
    return images[0]


def run_checked(command: list[str]) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=DPKG_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfraError(f"{' '.join(command)} failed: {error}") from None
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise InfraError(f"{' '.join(command)} failed (exit {result.returncode}): {last_line}")
    return result.stdout
