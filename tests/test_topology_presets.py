"""Topology presets: validation with one-line errors, and the vng options they become."""

from pathlib import Path

import pytest

from tests.helpers import preset_toml
from vm.errors import UserError
from vm.topology import PRESET_DIR, TopologyPreset, known_presets, load_preset, parse_preset

# Node 0: 2 CPUs and 1024 MiB; node 1: CPU-less, 512 MiB; 40 between them.
GOOD = preset_toml((2, 1024), (0, 512)) + '[distances]\n"0-1" = 40\n'


NO_DISTANCES = GOOD.split("[distances]")[0]
# Nodes of (cpus, MiB); node 1 is the private node, node 2 keeps it from the BIOS's top of memory.
PRIVATE_KERNEL = preset_toml(
    (1, 256), (0, 256), (0, 128), private={"provider": "kernel", "node": 1}
)


def _load_file(tmp_path: Path, content: str | bytes, filename: str = "mine.toml") -> TopologyPreset:
    path = tmp_path / filename
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return load_preset(str(path))


def _refusal(tmp_path: Path, content: str | bytes) -> str:
    """The one-line error a user's file gets; it names the file."""
    with pytest.raises(UserError) as raised:
        _load_file(tmp_path, content)
    message = str(raised.value)
    assert "\n" not in message and f"topology {tmp_path / 'mine.toml'}: " in message
    return message


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
        ("memory_mib = 1\n", "nodes is missing; give one [[nodes]] table per node"),
    ],
)
def test_bad_presets_are_one_line_user_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_preset("bad", text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_users_file_does_not_take_a_shipped_presets_name(tmp_path: Path) -> None:
    """The name keys the result file: a user's default.toml would replace the default's."""
    shipped = load_preset("default")
    (tmp_path / "a").mkdir()
    mine = _load_file(tmp_path / "a", (PRESET_DIR / "default.toml").read_text(), "default.toml")
    assert mine.name != "default" and mine.name.startswith("default-")
    assert mine.nodes == shipped.nodes
    # Two files of one stem, or one file edited, get two names; the same content one.
    (tmp_path / "b").mkdir()
    edited = _load_file(tmp_path / "b", GOOD, "default.toml")
    assert edited.name not in (mine.name, "default")
    (tmp_path / "c").mkdir()
    assert _load_file(tmp_path / "c", GOOD, "default.toml").name == edited.name
    # host.toml must not pass for bare metal, which the guest's --topology-preset=host means.
    assert _load_file(tmp_path, GOOD, "host.toml").name.startswith("host-")


def test_a_shipped_preset_by_path_keeps_its_name() -> None:
    assert load_preset(str(PRESET_DIR / "four-nodes.toml")).name == "four-nodes"


def test_a_users_file_name_is_safe_in_a_file_name(tmp_path: Path) -> None:
    preset = _load_file(tmp_path, GOOD, "my layout;x.toml")
    assert preset.name.startswith("my_layout_x-") and len(preset.name) == len("my_layout_x-") + 8


def test_unknown_preset_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown topology 'nope': choose one of .*default"):
        load_preset("nope")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('distances = "x"\n' + NO_DISTANCES, "distances = 'x' must be a table"),
        ("kernel_parameters = 5\n" + GOOD, "kernel_parameters = 5 must be a list of strings"),
        ('memory_mib = 10\nnodes = "ab"\n', "nodes = 'ab' must be an array of tables"),
        ("memory_mib = 10\nnodes = [1]\n", "nodes[0] = 1 must be a table with id, cpus"),
        (GOOD.replace("id = 1\n", ""), "nodes[1].id is missing; give the node's id"),
        (b'description = "\xff"\n' + GOOD.encode(), "byte 15 is not UTF-8"),
        (GOOD.replace("id = 1", "id = 1.0"), "nodes[1].id = 1.0 must be an integer"),
        (GOOD.replace('"0-1" = 40', '"0-1" = "40"'), "distance '0-1' = '40' is not 'SRC-DST'"),
        (GOOD.replace('"0-1" = 40', '"0-1" = true'), "distance '0-1' = True is not 'SRC-DST'"),
    ],
)
def test_malformed_fields_are_one_line_errors(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    assert message in _refusal(tmp_path, content)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            GOOD.replace("memory_mib = 1024", "memory_mib = 2048").replace(
                "memory_mib = 512", "memory_mib = -512"
            ),
            "nodes[1].memory_mib = -512 must be an integer >= 0",
        ),
        (
            "memory_mib = 0\n[[nodes]]\nid = 0\ncpus = 1\nmemory_mib = 0\n",
            "memory_mib = 0 must be an integer >= 1",
        ),
        (
            GOOD.replace("cpus = 2", "cpus = -1").replace("id = 1", "id = 1\ncpus = 2"),
            "nodes[0].cpus = -1 must be an integer >= 0",
        ),
        (GOOD.replace("cpus = 2", "cpus = true"), "nodes[0].cpus = True must be an integer"),
        (
            GOOD.replace("1536", "1536.7").replace("memory_mib = 1024", "memory_mib = 1024.7"),
            "memory_mib = 1536.7 must be an integer >= 1",
        ),
        (
            'kernel_parameters = "quiet"\n' + GOOD,
            "kernel_parameters = 'quiet' must be a list of strings, e.g. [\"quiet\"]",
        ),
        (
            PRIVATE_KERNEL + 'ops = "mempolicy"\n',
            "[private] ops = 'mempolicy' must be a list of strings",
        ),
        (PRIVATE_KERNEL + "modules = [1]\n", "[private] modules = [1] must be a list of strings"),
        (PRIVATE_KERNEL.replace("node = 1", 'node = "1"'), "[private] node = '1' must be an"),
    ],
)
def test_values_of_the_wrong_kind_or_range_are_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    """Each was accepted once: truncated, split into letters, or summed though negative."""
    assert message in _refusal(tmp_path, content)


@pytest.mark.parametrize("cpus", [256, 100000])
def test_more_vcpus_than_qemu_gives_are_refused(tmp_path: Path, cpus: int) -> None:
    content = GOOD.replace("cpus = 2", f"cpus = {cpus}")
    assert f"cpus add up to {cpus}, more than the 255 vCPUs" in _refusal(tmp_path, content)


def test_the_most_vcpus_qemu_gives_are_accepted() -> None:
    preset = parse_preset(
        "wide", GOOD.replace("cpus = 2", "cpus = 200").replace("id = 1", "id = 1\ncpus = 55")
    )
    assert preset.cpus == 255


def test_the_two_directions_of_a_pair_must_agree(tmp_path: Path) -> None:
    """An entry sets both directions: a second one for the pair was once swapped in."""
    both = GOOD.replace('"0-1" = 40', '"0-1" = 30\n"1-0" = 40')
    assert "distance 1-0 = 40 contradicts 0-1 = 30" in _refusal(tmp_path, both)
    agreeing = GOOD.replace('"0-1" = 40', '"0-1" = 40\n"1-0" = 40')
    assert parse_preset("twice", agreeing).distance_matrix() == [(0, 1, 40), (1, 0, 40)]


def test_a_private_profile_that_does_not_load_names_the_topology_file(tmp_path: Path) -> None:
    unknown = PRIVATE_KERNEL + 'profile = "nosuch"\n'
    message = _refusal(tmp_path, unknown)
    assert "[private] profile = 'nosuch' fails: unknown profile 'nosuch': choose one of" in message
    broken = tmp_path / "broken-profile.toml"
    broken.write_text('description = "no name"\n')
    message = _refusal(tmp_path, PRIVATE_KERNEL + f'profile = "{broken}"\n')
    assert f"[private] profile = '{broken}' fails: profile {broken} is not valid" in message


def test_a_private_profile_by_path_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / "mine-profile.toml"
    mine.write_text('name = "mine"\nextends = "mainline"\n')
    preset = _load_file(tmp_path, PRIVATE_KERNEL + f'profile = "{mine}"\n')
    assert preset.default_profile == str(mine)


def test_a_private_profile_by_relative_path_is_taken_from_the_preset_s_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine-profile.toml").write_text('name = "mine"\nextends = "mainline"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the command runs from another folder
    preset = _load_file(tmp_path, PRIVATE_KERNEL + 'profile = "mine-profile.toml"\n')
    assert preset.default_profile == str(tmp_path / "mine-profile.toml")
    # A bare name is still a shipped profile, found wherever the command runs.
    shipped = _load_file(tmp_path, PRIVATE_KERNEL + 'profile = "mainline"\n')
    assert shipped.default_profile == "mainline"


def test_a_private_table_with_ops_is_read(tmp_path: Path) -> None:
    preset = _load_file(tmp_path, PRIVATE_KERNEL + 'ops = ["mempolicy"]\n')
    assert preset.private is not None and preset.private.ops == ("mempolicy",)


@pytest.mark.parametrize("name", known_presets())
def test_every_shipped_preset_loads(name: str) -> None:
    assert load_preset(name).name == name


ALLOWED_AT_THE_TOP = "description, memory_mib, nodes, distances, kernel_parameters, private"


@pytest.mark.parametrize(
    ("content", "key", "at", "allowed"),
    [
        (
            GOOD.replace("memory_mib = 1536", "memroy = 1536"),
            "memroy",
            "at the top level",
            ALLOWED_AT_THE_TOP,
        ),
        (
            'kernel_paramters = ["quiet"]\n' + GOOD,
            "kernel_paramters",
            "at the top level",
            ALLOWED_AT_THE_TOP,
        ),
        (
            GOOD.replace("id = 1\n", "id = 1\ncpu = 1\n"),
            "cpu",
            "in nodes[1]",
            "id, cpus, memory_mib",
        ),
        (
            PRIVATE_KERNEL + 'profil = "mainline"\n',
            "profil",
            "in [private]",
            "provider, node, profile, modules, ops",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_the_keys_allowed_there(
    tmp_path: Path, content: str, key: str, at: str, allowed: str
) -> None:
    """Each was once ignored: a preset that was not what its file said."""
    assert _refusal(tmp_path, content) == (
        f"topology {tmp_path / 'mine.toml'}: unknown key {key!r} {at}; the keys allowed there "
        f"are {allowed}"
    )


def test_the_preset_text_of_the_tests_is_what_it_says() -> None:
    """tests/helpers.py's preset_toml, which these tests and test_private_presets.py build
    their presets with, read back by the loader."""
    preset = parse_preset("p", PRIVATE_KERNEL)
    assert [(n.id, n.cpus, n.memory_mib) for n in preset.nodes] == [
        (0, 1, 256),
        (1, 0, 256),
        (2, 0, 128),
    ]
    assert preset.memory_mib == 640 and preset.distances == ()
    assert preset.private is not None and (preset.private.provider, preset.private.node) == (
        "kernel",
        1,
    )
    assert parse_preset("g", GOOD).distances == ((0, 1, 40),)
