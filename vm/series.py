"""A patch series (an mbox, as `b4 am` writes it) applied to a clean copy of a kernel tree.

The copy lives in the cache, keyed by the tree, the mbox, the port and the provider, and is
made once: a second run reuses it, so the build above it stays incremental (edit the copy
to iterate). A series posted against another base rarely applies as it is; a *port* (data
in vm/ports/) names the hunks the series cannot place on that tree and carries them, placed
by hand, as a patch of its own with a comment per hunk. Anything else that does not apply
stops the run with one line naming the patch and the file.
"""

from __future__ import annotations

import email.header
import hashlib
import json
import mailbox
import re
import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vm.errors import InfraError, UserError
from vm.locking import locked

PORT_DIR = Path(__file__).with_name("ports")
PROVIDER_DIR = Path(__file__).with_name("private_provider")
# Where the provider goes in the copy, and the lines that hook it into the build.
PROVIDER_IN_TREE = Path("drivers/mpol_private_node")
PROVIDER_KCONFIG_LINE = 'source "drivers/mpol_private_node/Kconfig"'
PROVIDER_MAKEFILE_LINE = "obj-$(CONFIG_MPOL_PRIVATE_NODE)\t+= mpol_private_node/"
STAMP_NAME = ".mempolicy-series.json"
LOCALVERSION_FILE = "localversion-mempolicy-series"
PATCH_TIMEOUT_S = 300.0

_NUMBERED = re.compile(r"\[[^\]]*?(\d+)/(\d+)\s*\]")
_FAILED_HUNK = re.compile(r"^Hunk #(\d+) FAILED")
_PATCHING = re.compile(r"^(?:patching|checking) file (\S+)")


@dataclass(frozen=True)
class Patch:
    number: int  # its N in [PATCH N/M]
    subject: str
    text: str  # the message body: the commit message and the diff


@dataclass(frozen=True)
class Series:
    message_id: str  # the cover letter's (or the first patch's) Message-ID, without <>
    subject: str  # the cover letter's subject, or the first patch's
    total: int  # M in [PATCH N/M]
    patches: tuple[Patch, ...]
    sha256: str  # of the mbox file


@dataclass(frozen=True)
class Reject:
    patch: int
    file: str  # as the patch names it, after renames
    hunk: int


@dataclass(frozen=True)
class Port:
    """How a series is carried onto one kernel version (vm/ports/<name>.toml)."""

    name: str
    description: str
    message_id: str  # the series it ports
    tree_version: str  # VERSION.PATCHLEVEL of the trees it is for
    patches: tuple[int, ...]  # which of the series' patches are applied
    fuzz: int  # patch(1) --fuzz: 2 is patch's own default; 3 misplaces hunks silently
    renames: dict[tuple[int, str], str]  # (patch, file) -> the file it moved to upstream
    rejects: frozenset[Reject]  # hunks the series cannot place; the port patch carries them
    patch_file: Path  # the port itself, applied after the series with no fuzz
    provider: bool  # add the suite's private-node provider (vm/private_provider)
    localversion: str  # appended to the release (`uname -r`), so reports tell the kernels apart
    fragments: tuple[str, ...]  # extra Kconfig fragments the series kernel needs

    def sha256(self) -> str:
        digest = hashlib.sha256(self.patch_file.read_bytes())
        digest.update(self.source_toml.read_bytes())
        return digest.hexdigest()

    @property
    def source_toml(self) -> Path:
        return self.patch_file.with_suffix(".toml")


@dataclass(frozen=True)
class SeriesTree:
    """The copy that was made (or found), and what a result document records of it."""

    tree: Path
    series: Series
    port: Port | None
    applied: tuple[int, ...]

    def record(self) -> dict[str, object]:
        return {
            "message_id": self.series.message_id,
            "subject": self.series.subject,
            "patches_in_series": self.series.total,
            "patches_applied": list(self.applied),
            "mbox_sha256": self.series.sha256,
            "port": None
            if self.port is None
            else {"name": self.port.name, "sha256": self.port.sha256()},
            "provider": self.port is not None and self.port.provider,
            "copy": str(self.tree),
        }


# --- reading an mbox ---------------------------------------------------------------------


def read_series(mbox_path: Path) -> Series:
    if not mbox_path.is_file():
        raise UserError(f"series not found: {mbox_path} (give the .mbox that `b4 am` wrote)")
    data = mbox_path.read_bytes()
    cover: tuple[str, str] | None = None
    patches: list[Patch] = []
    total = 0
    for message in mailbox.mbox(str(mbox_path)):
        subject = _header_text(message.get("Subject", ""))
        match = _NUMBERED.search(subject)
        number, of = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        total = max(total, of)
        message_id = _header_text(message.get("Message-ID", "")).strip().strip("<>")
        if number == 0:
            cover = (message_id, subject)
            continue
        payload = message.get_payload(decode=True)
        if not isinstance(payload, bytes) or b"\n+++ " not in payload:
            continue  # a reply, or a multipart message that carries no diff
        patches.append(Patch(number, subject, payload.decode("utf-8", errors="replace")))
    if not patches:
        raise UserError(f"no patches in {mbox_path}: is it an mbox of a patch series?")
    patches.sort(key=lambda patch: patch.number)
    numbers = [patch.number for patch in patches]
    if len(set(numbers)) != len(numbers):
        raise UserError(f"{mbox_path} holds a patch number twice: keep one version of the series")
    first = patches[0]
    message_id, subject = cover or ("", first.subject)
    if not message_id:
        message_id = _first_message_id(mbox_path)
    return Series(
        message_id=message_id,
        subject=" ".join(subject.split()),
        total=total,
        patches=tuple(patches),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _header_text(value: object) -> str:
    return str(email.header.make_header(email.header.decode_header(str(value))))


def _first_message_id(mbox_path: Path) -> str:
    for message in mailbox.mbox(str(mbox_path)):
        return _header_text(message.get("Message-ID", "")).strip().strip("<>")
    return ""


# --- ports ---------------------------------------------------------------------------------


def load_port(path: Path) -> Port:
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
        patch_file = path.with_suffix(".patch")
        port = Port(
            name=path.stem,
            description=data["description"],
            message_id=data["message_id"],
            tree_version=data["tree_version"],
            patches=tuple(_number_list(data["patches"])),
            fuzz=int(data.get("fuzz", 2)),
            renames={
                (int(item["patch"]), item["from"]): item["to"] for item in data.get("renames", [])
            },
            rejects=frozenset(
                Reject(int(item["patch"]), item["file"], int(item["hunk"]))
                for item in data.get("rejects", [])
            ),
            patch_file=patch_file,
            provider=bool(data.get("provider", False)),
            localversion=str(data.get("localversion", "")),
            fragments=tuple(data.get("fragments", [])),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as error:
        raise UserError(f"bad port file {path}: {error}") from None
    if not patch_file.is_file():
        raise UserError(f"port {path.stem} has no patch file {patch_file}")
    return port


def _number_list(text: str) -> list[int]:
    """'1-22' or '1-3,5' -> [1, 2, ...]."""
    numbers: list[int] = []
    for part in str(text).split(","):
        low, _, high = part.strip().partition("-")
        numbers += range(int(low), int(high or low) + 1)
    return numbers


def find_port(series: Series, tree_version: str, port_dir: Path = PORT_DIR) -> Port | None:
    """The port made for this series on this tree's VERSION.PATCHLEVEL, if there is one."""
    for path in sorted(port_dir.glob("*.toml")):
        port = load_port(path)
        if port.message_id == series.message_id and port.tree_version == tree_version:
            return port
    return None


# --- applying ------------------------------------------------------------------------------


def series_key(tree: Path, series: Series, port: Port | None) -> str:
    digest = hashlib.sha256(str(tree.resolve()).encode() + b"\0" + series.sha256.encode())
    if port is not None:
        digest.update(port.sha256().encode())
        if port.provider:
            for source in sorted(PROVIDER_DIR.iterdir()):
                digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def series_copy_for(tree: Path, series: Series, port: Port | None, cache_dir: Path) -> Path:
    """Where the copy of `tree` with `series` (and `port`) applied lives."""
    return cache_dir / f"{tree.resolve().name}-series-{series_key(tree, series, port)}"


def prepare_series_tree(
    tree: Path, series: Series, port: Port | None, *, cache_dir: Path
) -> SeriesTree:
    """A copy of `tree` with the series (and the port) applied, made once per key."""
    applied = port.patches if port is not None else tuple(p.number for p in series.patches)
    copy = series_copy_for(tree, series, port, cache_dir)
    result = SeriesTree(copy, series, port, applied)
    with locked(copy.with_name(copy.name + ".lock")):
        if not (copy / STAMP_NAME).is_file():
            _make_copy(tree, copy, series, port, result)
    return result


def _make_copy(
    tree: Path, copy: Path, series: Series, port: Port | None, result: SeriesTree
) -> None:
    cache_dir = copy.parent
    partial = copy.with_name(copy.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _copy_tree(tree, partial)
    log = partial / "series-apply.log"
    rejects = apply_series(partial, series, port, log=log)
    if port is not None:
        check_rejects(rejects, port)
        apply_port(partial, port, log=log)
        if port.provider:
            add_provider(partial)
        if port.localversion:
            # The kernel's build appends every localversion* file of the source tree.
            (partial / LOCALVERSION_FILE).write_text(port.localversion + "\n")
    for leftover in [*partial.rglob("*.rej"), *partial.rglob("*.orig")]:
        leftover.unlink()
    (partial / STAMP_NAME).write_text(json.dumps(result.record(), indent=1) + "\n")
    shutil.rmtree(copy, ignore_errors=True)
    partial.rename(copy)


def _copy_tree(tree: Path, destination: Path) -> None:
    # cp keeps the mtimes (an unchanged tree then builds the same) and is far faster than
    # shutil.copytree over ~90,000 files; git metadata is left behind, the copy is patched.
    result = subprocess.run(
        ["cp", "-a", str(tree), str(destination)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InfraError(f"copying {tree} to {destination} failed: {result.stderr.strip()}")
    shutil.rmtree(destination / ".git", ignore_errors=True)


def apply_series(tree: Path, series: Series, port: Port | None, *, log: Path) -> set[Reject]:
    """Apply the selected patches in order; the hunks patch(1) rejected, by patch and file."""
    wanted = set(port.patches) if port is not None else None
    fuzz = port.fuzz if port is not None else 0
    available = {patch.number for patch in series.patches}
    if wanted is not None and not wanted <= available:
        missing = ", ".join(f"{n:04d}" for n in sorted(wanted - available))
        raise UserError(f"the mbox lacks patch(es) {missing} that the port {port.name} applies")  # type: ignore[union-attr]
    rejects: set[Reject] = set()
    for patch in series.patches:
        if wanted is not None and patch.number not in wanted:
            continue
        text = _renamed(patch, port)
        output = run_patch(tree, text, fuzz=fuzz, log=log, label=f"{patch.number:04d}")
        rejects |= _rejects_in(patch.number, output)
        missing_file = _missing_file(output)
        if missing_file:
            raise UserError(
                f"patch {patch.number:04d} ({patch.subject}) names {missing_file}, "
                "which this tree does not have; a port must say where it moved"
            )
        for leftover in tree.rglob("*.rej"):
            leftover.unlink()
    return rejects


def _renamed(patch: Patch, port: Port | None) -> str:
    text = patch.text
    if port is None:
        return text
    for (number, old), new in port.renames.items():
        if number == patch.number:
            text = text.replace(f"a/{old}", f"a/{new}").replace(f"b/{old}", f"b/{new}")
    return text


def run_patch(tree: Path, text: str, *, fuzz: int, log: Path, label: str) -> str:
    command = [
        "patch", "-p1", f"--fuzz={fuzz}", "--batch", "--forward", "--no-backup-if-mismatch",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command,
            input=text,
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=PATCH_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise InfraError("patch(1) is not installed: apt-get install patch") from None
    except subprocess.TimeoutExpired:
        raise InfraError(f"patch {label} took over {PATCH_TIMEOUT_S:.0f} s") from None
    with log.open("a") as out:
        out.write(f"=== {label} (fuzz {fuzz}, exit {result.returncode})\n{result.stdout}")
        out.write(result.stderr)
    return result.stdout + result.stderr


def _rejects_in(number: int, output: str) -> set[Reject]:
    rejects: set[Reject] = set()
    current = ""
    for line in output.splitlines():
        if match := _PATCHING.match(line):
            current = match.group(1)
        elif match := _FAILED_HUNK.match(line):
            rejects.add(Reject(number, current, int(match.group(1))))
    return rejects


def _missing_file(output: str) -> str | None:
    """The file patch(1) could not find; it quotes the patch's header lines after a '|'."""
    if "can't find file to patch" not in output:
        return None
    match = re.search(r"^\|(?:\+\+\+ b|--- a)/(\S+)", output, re.M)
    return match.group(1) if match else "a file"


def check_rejects(rejects: set[Reject], port: Port) -> None:
    """The rejected hunks must be exactly those the port carries: no more, no fewer."""
    unexpected = sorted(rejects - port.rejects, key=_reject_order)
    if unexpected:
        first = unexpected[0]
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise UserError(
            f"patch {first.patch:04d} does not apply: hunk #{first.hunk} of {first.file} "
            f"rejected{more}, and the port {port.name} does not carry it"
        )
    placed = sorted(port.rejects - rejects, key=_reject_order)
    if placed:
        first = placed[0]
        raise UserError(
            f"patch {first.patch:04d} hunk #{first.hunk} of {first.file} applied, but the port "
            f"{port.name} carries it too: the tree is not the one the port was made for"
        )


def _reject_order(reject: Reject) -> tuple[int, str, int]:
    return (reject.patch, reject.file, reject.hunk)


def apply_port(tree: Path, port: Port, *, log: Path) -> None:
    output = run_patch(tree, port.patch_file.read_text(), fuzz=0, log=log, label=port.name)
    failed = _rejects_in(0, output)
    if failed or "can't find file to patch" in output:
        where = sorted({reject.file for reject in failed}) or ["a missing file"]
        raise UserError(
            f"the port {port.patch_file.name} does not apply to {', '.join(where)}; see {log}"
        )


def add_provider(tree: Path) -> None:
    """The suite's private-node provider, built in: drivers/mpol_private_node/."""
    destination = tree / PROVIDER_IN_TREE
    shutil.copytree(PROVIDER_DIR, destination, dirs_exist_ok=True)
    _append_line(tree / "drivers/Kconfig", PROVIDER_KCONFIG_LINE, before="endmenu")
    _append_line(tree / "drivers/Makefile", PROVIDER_MAKEFILE_LINE)


def _append_line(path: Path, line: str, *, before: str | None = None) -> None:
    lines = path.read_text().splitlines()
    if line in lines:
        return
    if before is not None and before in lines:
        index = len(lines) - 1 - lines[::-1].index(before)
        lines.insert(index, line)
    else:
        lines.append(line)
    path.unlink()  # a fresh file: never write through a hard link into the original tree
    path.write_text("\n".join(lines) + "\n")


def tree_version(tree: Path) -> str:
    """VERSION.PATCHLEVEL from the top Makefile: what a port is made for."""
    text = (tree / "Makefile").read_text()
    fields = []
    for name in ("VERSION", "PATCHLEVEL"):
        match = re.search(rf"^{name} = ?(.*)$", text, re.M)
        fields.append(match.group(1).strip() if match else "?")
    return ".".join(fields)


def parse_patch_numbers(text: str) -> Sequence[int]:
    try:
        return _number_list(text)
    except ValueError:
        raise UserError(f"bad patch list {text!r}: write it like 1-22 or 1-3,5") from None
