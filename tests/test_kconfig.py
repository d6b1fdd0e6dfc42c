"""Kconfig fragments and the check that names what a kernel's config lacks."""

from pathlib import Path

import pytest

from vm.errors import UserError
from vm.kconfig import FRAGMENT_DIR, check_kernel_config, missing_options, parse_config

CONFIG_NO_NUMA = """\
CONFIG_SMP=y
# CONFIG_NUMA is not set
CONFIG_MIGRATION=y
CONFIG_VIRTIO_PCI=m
"""


def test_parse_config() -> None:
    assert parse_config(CONFIG_NO_NUMA) == {
        "CONFIG_SMP": "y",
        "CONFIG_NUMA": "n",
        "CONFIG_MIGRATION": "y",
        "CONFIG_VIRTIO_PCI": "m",
    }


def test_module_satisfies_m_but_not_y() -> None:
    config = parse_config(CONFIG_NO_NUMA)
    assert missing_options({"CONFIG_VIRTIO_PCI": "m"}, config) == []
    assert missing_options({"CONFIG_VIRTIO_PCI": "y"}, config) == ["CONFIG_VIRTIO_PCI=y (is m)"]
    assert missing_options({"CONFIG_KASAN": "n"}, config) == []


def test_every_fragment_option_is_commented() -> None:
    for fragment in FRAGMENT_DIR.glob("*.config"):
        lines = fragment.read_text().splitlines()
        for index, line in enumerate(lines):
            if line.startswith("CONFIG_"):
                above = lines[:index]
                assert any(prior.startswith("# ") for prior in above), f"{fragment.name}: {line}"


def test_a_kernel_without_numa_is_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config-6.1.0-test"
    config.write_text(CONFIG_NO_NUMA)
    with pytest.raises(UserError) as raised:
        check_kernel_config(config, "6.1.0-test")
    message = str(raised.value)
    assert "CONFIG_NUMA=y (is not set)" in message and "numa.config" in message
    assert "CONFIG_MIGRATION" not in message
    assert "\n" not in message


def test_debian_61_config_passes() -> None:
    recorded = Path(__file__).parent / "data" / "kernels" / "config-6.1.0-56-amd64.numa"
    check_kernel_config(recorded, "6.1.0-56-amd64")
