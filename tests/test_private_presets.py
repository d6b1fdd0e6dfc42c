"""The private* topology presets and what they carry to the guest: kernel parameters, the
private-node provider and node (as pytest options), and the profile a run uses by default."""

from pathlib import Path

import pytest

from tests.helpers import preset_toml
from vm.errors import UserError
from vm.runner import guest_script, vng_command
from vm.topology import load_preset, parse_preset

PRESETS = {
    "private": ("kernel", "private-v5", ("private_node=2",)),
    "private-cpuset-fence": ("cpuset-fence", "cpuset-fence", ()),
    "private-unprotected": ("unprotected", "mainline", ()),
}

# Node 0: 1 CPU and 512 MiB; node 1: CPU-less, 256 MiB.
BASE = preset_toml((1, 512), (0, 256))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_private_presets_name_their_provider(name: str) -> None:
    provider, profile, parameters = PRESETS[name]
    preset = load_preset(name)
    assert preset.private is not None and preset.private.provider == provider
    assert preset.default_profile == profile
    assert preset.kernel_parameters == parameters
    assert preset.pytest_options() == [f"--private-provider={provider}", "--private-node=2"]


def test_the_three_private_presets_share_one_layout() -> None:
    """Same nodes, same ids: the private-node rows of the three providers line up."""
    layouts = {
        name: (load_preset(name).nodes, load_preset(name).distances, load_preset(name).memory_mib)
        for name in PRESETS
    }
    assert len(set(layouts.values())) == 1
    nodes = load_preset("private").nodes
    assert [(n.cpus > 0, n.memory_mib > 0) for n in nodes] == [(True, True)] * 2 + [(False, True)]


def test_presets_without_the_new_fields_keep_their_behaviour() -> None:
    preset = load_preset("default")
    assert preset.kernel_parameters == () and preset.private is None
    assert preset.default_profile == "mainline" and preset.pytest_options() == []


def test_kernel_parameters_reach_the_vng_command(tmp_path: Path) -> None:
    preset = load_preset("private")
    command = vng_command(
        tmp_path / "bzImage", preset, tmp_path, accel="tcg", append=preset.kernel_parameters
    )
    appended = [command[i + 1] for i, word in enumerate(command) if word == "--append"]
    assert appended[-1] == "private_node=2"
    # every guest boots with NUMA balancing off: no static-key patching per module
    assert "numa_balancing=disable" in appended
    assert "--private-provider=kernel" in guest_script(tmp_path, preset.pytest_options())


def test_a_private_table_with_modules() -> None:
    text = BASE + '[private]\nprovider = "kernel"\nnode = 1\nmodules = ["cxl_private"]\n'
    preset = parse_preset("mod", text)
    assert preset.pytest_options()[-1] == "--private-module=cxl_private"
    assert preset.default_profile == "mainline"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[private]\nprovider = "magic"\nnode = 1\n', "provider 'magic' is not one of"),
        ('[private]\nprovider = "kernel"\nnode = 0\n', "must be a CPU-less memory node"),
        ('[private]\nprovider = "kernel"\n', "needs provider and node"),
        ('kernel_parameters = ["a b"]\n', "must be one word"),
    ],
)
def test_bad_private_fields_are_one_line_user_errors(extra: str, message: str) -> None:
    text = extra + BASE if extra.startswith("kernel_parameters") else BASE + extra
    with pytest.raises(UserError) as raised:
        parse_preset("bad", text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_private_node_must_follow_the_cpu_nodes() -> None:
    # Node 2 has a CPU and comes after the private node 1.
    text = preset_toml((1, 256), (0, 256), (1, 256), private={"provider": "unprotected", "node": 1})
    with pytest.raises(UserError, match="must come after every node with CPUs"):
        parse_preset("order", text)
