"""The loop device's status block, packed as include/uapi/linux/loop.h lays it out."""

from pathlib import Path

from fixtures.abi.linux import LO_FLAGS_AUTOCLEAR
from fixtures.system.loop import LOOP_INFO64, loop_info


def test_loop_info64_is_the_kernels_size_and_asks_for_auto_clear() -> None:
    packed = loop_info(Path("/tmp/fs.img"))
    assert LOOP_INFO64.size == len(packed) == 232
    fields = LOOP_INFO64.unpack(packed)
    assert fields[8] == LO_FLAGS_AUTOCLEAR  # lo_flags: after five __u64 and three __u32
    assert packed[56 : 56 + len(b"/tmp/fs.img")] == b"/tmp/fs.img"  # lo_file_name at 56
