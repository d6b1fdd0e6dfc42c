"""Build a kernel tree out of tree, with the suite's Kconfig fragments, into a cache.

The build folder is keyed by the tree and the configuration: a second run on an unchanged
tree rebuilds nothing, a touched file rebuilds incrementally. The fragments are merged by
the tree's own scripts/kconfig/merge_config.sh on top of `defconfig`, then `olddefconfig`;
every requested option must survive, or the build stops naming the ones that did not.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vm.errors import InfraError, UserError
from vm.kconfig import FRAGMENT_DIR, missing_options, parse_config
from vm.locking import locked

# What a tree is built with unless asked otherwise; debug-vm.config is opt-in.
DEFAULT_FRAGMENTS = (
    "base-guest.config",
    "guest-slim.config",
    "numa.config",
    "hugepages.config",
    "cgroups.config",
    "leaks.config",
    "filesystems.config",
)
IMAGE = Path("arch/x86/boot/bzImage")


@dataclass(frozen=True)
class TreeBuild:
    tree: Path
    build_dir: Path
    image: Path
    release: str  # `make kernelrelease`
    describe: str  # `git describe --dirty`, or the Makefile's version
    config_hash: str
    fragments: tuple[str, ...]
    rebuilt: bool  # whether make had anything to do


def check_tree(tree: Path) -> None:
    needed = ("Makefile", "scripts/kconfig/merge_config.sh", "arch/x86/Kconfig", "mm/mempolicy.c")
    missing = [name for name in needed if not (tree / name).exists()]
    if missing:
        raise UserError(
            f"not a Linux kernel tree: {tree} (no {', '.join(missing)}); "
            "give the top folder of a kernel source tree"
        )


def makefile_version(tree: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL plus EXTRAVERSION, as the top Makefile states them."""
    text = (tree / "Makefile").read_text()
    fields: dict[str, str] = {}
    for name in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        match = re.search(rf"^{name} = ?(.*)$", text, re.M)
        fields[name] = match.group(1).strip() if match else ""
    sublevel = fields["SUBLEVEL"] or "0"
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{sublevel}{fields['EXTRAVERSION']}"


def describe_tree(tree: Path) -> str:
    """`git describe --dirty` for a git tree, else the version its Makefile states."""
    if (tree / ".git").exists() and shutil.which("git"):
        described = subprocess.run(
            ["git", "-C", str(tree), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        )
        if described.returncode == 0:
            return described.stdout.strip()
    return f"{makefile_version(tree)} (no git)"


def fragment_paths(names: Sequence[str]) -> list[Path]:
    paths = []
    for name in names:
        path = Path(name) if Path(name).is_file() else FRAGMENT_DIR / name
        if not path.is_file():
            known = ", ".join(sorted(p.name for p in FRAGMENT_DIR.glob("*.config")))
            raise UserError(f"unknown config fragment {name!r}: choose from {known} or give a path")
        paths.append(path)
    return paths


def config_key(tree: Path, fragments: Sequence[Path]) -> str:
    """Names the build folder: the tree's location and every fragment's content."""
    digest = hashlib.sha256(str(tree.resolve()).encode())
    for fragment in fragments:
        digest.update(fragment.name.encode() + b"\0" + fragment.read_bytes())
    return digest.hexdigest()[:16]


def build_dir_for(tree: Path, fragments: Sequence[Path], cache_dir: Path) -> Path:
    """Where `tree` built with `fragments` lives: a new key rebuilds, the same one reuses."""
    return cache_dir / f"{tree.name}-{config_key(tree, fragments)}"


Runner = Callable[[Sequence[str], Path], None]


def run_make_step(
    command: Sequence[str], log: Path, on_line: Callable[[str], None] = lambda line: None
) -> None:
    """Run one step, its output appended to the build log line by line; a failure names
    the log."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            on_line(line)
        status = process.wait()
    if status != 0:
        raise InfraError(f"{' '.join(command[:3])} ... failed (exit {status}); see {log}")


def configure(
    tree: Path, build_dir: Path, fragments: Sequence[Path], log: Path, run: Runner = run_make_step
) -> bool:
    """Write build_dir/.config from defconfig + fragments; True if it changed.

    The new config is made beside the old one and replaces it only when it differs, so an
    unchanged configuration never makes make rebuild the world.
    """
    staging = build_dir / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    make = ["make", "-C", str(tree), f"O={staging}"]
    run([*make, "defconfig"], log)
    merge = [
        str(tree / "scripts/kconfig/merge_config.sh"),
        "-m",
        "-O",
        str(staging),
        str(staging / ".config"),
    ]
    run([*merge, *map(str, fragments)], log)
    run([*make, "olddefconfig"], log)
    check_survived(staging / ".config", fragments)
    new_config = (staging / ".config").read_bytes()
    current = build_dir / ".config"
    if current.exists() and current.read_bytes() == new_config:
        return False
    current.write_bytes(new_config)
    return True


def check_survived(config_file: Path, fragments: Sequence[Path]) -> None:
    """After olddefconfig: every option the fragments asked for is there, or name them."""
    config = parse_config(config_file.read_text())
    missing: list[str] = []
    for fragment in fragments:
        missing += missing_options(parse_config(fragment.read_text()), config)
    if missing:
        raise UserError(
            f"not all Kconfig options selected in {config_file}; missing: {', '.join(missing)}"
        )


def build_tree(
    tree: Path,
    *,
    cache_dir: Path,
    fragments: Sequence[str] = DEFAULT_FRAGMENTS,
    jobs: int | None = None,
    progress: Callable[[str], None] = lambda line: None,
    tick: Callable[[str], None] = lambda status: None,
) -> TreeBuild:
    tree = tree.resolve()
    check_tree(tree)
    paths = fragment_paths(fragments)
    build_dir = build_dir_for(tree, paths, cache_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    # Two runs of one tree (two presets booted at once) must not run make in one folder.
    with locked(build_dir / ".lock"):
        return _build_locked(tree, build_dir, paths, jobs=jobs, progress=progress, tick=tick)


def _build_locked(
    tree: Path,
    build_dir: Path,
    paths: Sequence[Path],
    *,
    jobs: int | None,
    progress: Callable[[str], None],
    tick: Callable[[str], None],
) -> TreeBuild:
    log = build_dir / "build.log"
    progress(f"build: configuring {tree} into {build_dir}")
    configure(tree, build_dir, paths, log)
    image = build_dir / IMAGE
    before = image.stat().st_mtime_ns if image.exists() else None
    make = ["make", "-C", str(tree), f"O={build_dir}", f"-j{jobs or os.cpu_count() or 1}"]
    progress("build: make bzImage (incremental)")
    compiled = 0

    def count(line: str) -> None:
        nonlocal compiled
        if line.lstrip().startswith(("CC ", "AS ", "LD ", "AR ")):
            compiled += 1
            if compiled % 20 == 0:
                tick(f"build: {compiled} objects")

    run_make_step([*make, "bzImage"], log, count)
    progress(f"build: done, {compiled} objects built")
    release = subprocess.run(
        [*make[:4], "-s", "kernelrelease"], capture_output=True, text=True
    ).stdout.strip()
    config = (build_dir / ".config").read_bytes()
    return TreeBuild(
        tree=tree,
        build_dir=build_dir,
        image=image,
        release=release or makefile_version(tree),
        describe=describe_tree(tree),
        config_hash="sha256:" + hashlib.sha256(config).hexdigest(),
        fragments=tuple(p.name for p in paths),
        rebuilt=before != image.stat().st_mtime_ns,
    )
