"""AnonMapping gives a VMA of its own between two PROT_NONE guards (host, no VM)."""

from pathlib import Path

from fixtures.system.memory import PAGE_SIZE, AnonMapping


def _vmas() -> list[tuple[int, int, str]]:
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split("-"))
        found.append((start, end, perms))
    return found


def test_the_region_is_one_vma_between_guards_even_beside_a_faulted_neighbour() -> None:
    # Two mappings in a row: the second is placed below the first by the kernel's
    # top-down search, next to a read-write anonymous VMA that has been faulted.
    with AnonMapping(4) as first:
        first.write_fault()
        with AnonMapping(8) as region:
            vmas = _vmas()
            at = next(i for i, v in enumerate(vmas) if v[0] == region.addr)
            assert vmas[at][1] == region.addr + region.length
            assert vmas[at][2].startswith("rw")
            assert vmas[at - 1] == (region.addr - PAGE_SIZE, region.addr, vmas[at - 1][2])
            assert vmas[at - 1][2].startswith("---")
            assert vmas[at + 1][0] == region.addr + region.length
            assert vmas[at + 1][2].startswith("---")
