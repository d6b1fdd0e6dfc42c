"""Record pagemap and kpageflags words for tests/test_folios.py (run as root, from the
checkout: `python3 tests/data/folios/record.py`). Each folder holds the range's pagemap
entries (pagemap.bin), every 512-PFN block of kpageflags the folio reader read
(kpageflags-<first PFN>.bin) and what the reader made of them (folios.json), which the
tests compare with a fresh parse of the bytes."""

from __future__ import annotations

import json
import mmap
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from fixtures.abi.libc import ffi, libc  # noqa: E402
from fixtures.abi.linux import MADV_HUGEPAGE, MADV_NOHUGEPAGE  # noqa: E402
from fixtures.system.folios import (  # noqa: E402
    FLAG_BLOCK,
    KPAGEFLAGS,
    WORD,
    KpageflagsReader,
    folios,
    pfns_from_pagemap,
    read_pagemap,
)
from fixtures.system.memory import PAGE_SIZE  # noqa: E402

HERE = Path(__file__).resolve().parent
HUGE = 2 << 20


def save(name: str, addr: int, npages: int, what: str) -> None:
    raw = read_pagemap(addr, npages)
    fd = os.open(KPAGEFLAGS, os.O_RDONLY)
    try:
        reader = KpageflagsReader(fd)
        found = folios(pfns_from_pagemap(raw), reader)
    finally:
        os.close(fd)
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    for old in folder.glob("kpageflags-*.bin"):
        old.unlink()
    (folder / "pagemap.bin").write_bytes(raw)
    for block, words in reader.blocks.items():
        data = b"".join(w.to_bytes(WORD, "little") for w in words)
        (folder / f"kpageflags-{block * FLAG_BLOCK:x}.bin").write_bytes(data)
    doc = {
        "what": what,
        "kernel": os.uname().release,
        "npages": npages,
        "folios": [f.to_json() for f in found],
    }
    (folder / "folios.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(name, len(found), "folios", sorted({f.order for f in found}))


def anon(npages: int, advice: int, *, skew_pages: int) -> int:
    """Private anonymous memory starting `skew_pages` below a 2 MiB boundary, written."""
    length = npages * PAGE_SIZE
    total = length + 2 * HUGE
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    prot = mmap.PROT_READ | mmap.PROT_WRITE
    base = int(ffi.cast("uintptr_t", libc.mmap(ffi.NULL, total, prot, flags, -1, 0)))
    addr = -(-base // HUGE) * HUGE + HUGE - skew_pages * PAGE_SIZE
    libc.madvise(ffi.cast("void *", addr), length, advice)
    libc.memset(ffi.cast("void *", addr), 0x5A, length)
    return addr


def main() -> None:
    save(
        "anon-thp-pmd",
        anon(4 + 1024 + 3, MADV_HUGEPAGE, skew_pages=4),
        4 + 1024 + 3,
        "private anonymous, MADV_HUGEPAGE, 4 pages below a 2 MiB boundary: 4 base pages, "
        "two PMD-mapped THPs, 3 base pages",
    )
    save(
        "anon-base",
        anon(12, MADV_NOHUGEPAGE, skew_pages=8),
        12,
        "private anonymous, MADV_NOHUGEPAGE: order-0 pages only",
    )
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        path = Path(folder) / "cached"
        path.write_bytes(b"\x5a" * (1 << 20))  # ext4 buffered writes: large folios (6.16+)
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = int(
                ffi.cast(
                    "uintptr_t",
                    libc.mmap(ffi.NULL, 1 << 20, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0),
                )
            )
            start, npages = 3, 200  # from page 3: the first folio is cut by the range
            libc.madvise(ffi.cast("void *", addr), 1 << 20, 22)  # MADV_POPULATE_READ
            save(
                "ext4-page-cache",
                addr + start * PAGE_SIZE,
                npages,
                "MAP_SHARED read of a 1 MiB ext4 file written with write(2), pages 3-202",
            )
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
