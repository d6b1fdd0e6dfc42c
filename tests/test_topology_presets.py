"""Topology presets: validation with one-line errors, and the vng options they become."""

from pathlib import Path

import pytest

from vm.errors import UserError
from vm.topology import known_presets, load_preset, parse_preset

GOOD = """
memory_mib = 1536
[[nodes]]
id = 0
cpus = 2
memory_mib = 1024
[[nodes]]
id = 1
memory_mib = 512
[distances]
"0-1" = 40
"""


def test_default_preset_is_the_documented_shape() -> None:
    preset = load_preset("default")
    assert [(n.id, n.cpus, n.memory_mib) for n in preset.nodes] == [
        (0, 1, 768),
        (1, 1, 768),
        (2, 0, 512),
    ]
    assert "default" in known_presets()


def test_vng_arguments() -> None:
    args = parse_preset("two", GOOD).vng_arguments()
    assert args[:6] == [
        "--cpus",
        "2",
        "--memory",
        "1536M",
        "--qemu-opts",
        "-smp 2,sockets=2,cores=1,threads=1",
    ]
    assert args[6:10] == ["--numa", "1024M,cpus=0-1", "--numa", "512M"]
    # QEMU wants every pair in both directions once one distance is given.
    assert args[10:] == ["--numa-distance", "0,1=40", "--numa-distance", "1,0=40"]


def test_memoryless_node_has_size_zero() -> None:
    text = GOOD.replace("memory_mib = 512", "memory_mib = 512\ncpus = 1").replace("1536", "1536")
    text += "[[nodes]]\nid = 2\ncpus = 1\nmemory_mib = 0\n"
    preset = parse_preset("ml", text)
    assert preset.vng_arguments()[8:12] == ["--numa", "512M,cpus=2-2", "--numa", "0,cpus=3-3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("memory_mib = 1536", "memory_mib = 1024"),
            "node memory adds up to 1536 MiB but the guest has 1024 MiB",
        ),
        (GOOD.replace("id = 1", "id = 2"), "node ids must be 0..1 in order"),
        (GOOD.replace("cpus = 2", "cpus = 0"), "no node has a CPU"),
        (GOOD.replace('"0-1" = 40', '"0-5" = 40'), "distance 0-5 = 40"),
        (GOOD.replace('"0-1" = 40', '"0-1" = 5'), "distance 0-1 = 5"),
        ("memory_mib = [", "not valid TOML"),
        ("memory_mib = 1\n", "missing or malformed field"),
    ],
)
def test_bad_presets_are_one_line_user_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_preset("bad", text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unknown_preset_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown topology 'nope': choose one of .*default"):
        load_preset("nope")
