"""Read-only shares the guest mounts with a page cache, before its Python starts.

vng shares the host's root over 9p with cache=none: every stat and every read the guest
makes goes to the host and back, and an import stats each sys.path folder it passes on
its way. Under TCG that put the interpreter's start, pytest's imports and the collection
of the matrix at the head of the boot's bill. The suite's checkout and the Python that
runs it are read-only in the guest anyway (vng exports the root read-only), so each is
shared once more and mounted over its own path with cache=loose: the guest keeps what it
has read. The run folder, which the guest writes and the host reads live, stays the
cache=none share vng mounted, bound back over the checkout's copy when it lies inside.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TAG_PREFIX = "mpc.cache"
# 9p over virtio caps msize at 512000 (the kernel logs the cap when asked for more).
MOUNT_OPTIONS = "trans=virtio,version=9p2000.L,cache=loose,ro,msize=512000"
RUN_HANDLE = "/run/mpc-run"  # where the run folder's own mount is kept while shares go on


@dataclass(frozen=True)
class CachedShare:
    tag: str  # the 9p mount tag QEMU offers
    path: Path  # shared from the host and mounted over the same path in the guest

    def qemu_options(self) -> str:
        fsdev = self.tag.replace(".", "_")
        host_path = str(self.path).replace(",", ",,")  # QEMU's option syntax escapes commas
        return " ".join(
            (
                "-fsdev",
                shlex.quote(
                    f"local,id={fsdev},path={host_path},security_model=none,readonly=on,"
                    "multidevs=remap"
                ),
                "-device",
                shlex.quote(f"virtio-9p-pci,fsdev={fsdev},mount_tag={self.tag}"),
            )
        )


def cached_shares(paths: Iterable[Path]) -> tuple[CachedShare, ...]:
    """One share per folder, none inside another (the outer one already holds it)."""
    resolved = sorted({p.resolve() for p in paths}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in resolved:
        if path != Path("/") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return tuple(CachedShare(f"{TAG_PREFIX}{i}", path) for i, path in enumerate(kept))


def vng_options(shares: Sequence[CachedShare]) -> list[str]:
    if not shares:
        return []
    return ["--qemu-opts=" + " ".join(share.qemu_options() for share in shares)]


def mount_script(
    shares: Sequence[CachedShare], run_dir: Path, cwd: Path, busybox: Path | None = None
) -> str:
    """Shell that mounts the shares over their paths, keeps the run folder writable where
    it was, and goes back into `cwd` through the new mounts. Best effort: a guest that
    cannot mount (not root) runs from vng's shares as before, and one whose run folder
    would stay hidden takes the shares down again.

    `busybox`: the static busybox vng needs anyway, which runs mkdir, mount and umount.
    util-linux's mount loads five libraries from vng's root share, which has no page
    cache; four such starts took ~0.3 s of the boot under TCG (6.12 guest, three
    alternating pairs). Without it, the system's commands."""
    if not shares:
        return ""
    paths = " ".join(shlex.quote(str(s.path)) for s in shares)
    box = shlex.quote(str(busybox)) if busybox is not None else ""
    lines = [
        f"R={shlex.quote(str(run_dir))} H={RUN_HANDLE} B={box}",
        'if $B mkdir -p "$H" && $B mount -o bind "$R" "$H"; then',
        *(
            f"  $B mount -t 9p -o {MOUNT_OPTIONS} {s.tag} {shlex.quote(str(s.path))}"
            for s in shares
        ),
        f'  $B mount -o bind "$H" "$R" || $B umount -l {paths}',
        "fi 2>/dev/null",
        f"cd {shlex.quote(str(cwd))}",
    ]
    return "\n".join(lines) + "\n"
