"""Kconfig fragments (kernel-configs/*.config) and checking a kernel's config against them.

A fragment line `CONFIG_X=y` asks for X built in, `CONFIG_X=m` for X built in or a module,
`# CONFIG_X is not set` for X off. A kernel whose config misses a required option is named
before it is booted, with the options it lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

from vm.errors import UserError

FRAGMENT_DIR = Path(__file__).resolve().parent.parent / "kernel-configs"
# The fragments every booted kernel must satisfy; the others are for building trees.
REQUIRED_FRAGMENTS = ("numa.config",)

_SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


def parse_config(text: str) -> dict[str, str]:
    """Options of a .config or fragment; an option switched off maps to 'n'."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if match := _SET.match(line):
            options[match.group(1)] = match.group(2)
        elif match := _UNSET.match(line):
            options[match.group(1)] = "n"
    return options


def satisfied(wanted: str, actual: str) -> bool:
    if wanted == "m":
        return actual in ("y", "m")
    return actual == wanted


def missing_options(fragment: dict[str, str], config: dict[str, str]) -> list[str]:
    """Options of `fragment` that `config` does not give, as `CONFIG_X=want (is: actual)`."""
    missing = []
    for option, wanted in fragment.items():
        actual = config.get(option, "n")
        if not satisfied(wanted, actual):
            missing.append(f"{option}={wanted} (is {'not set' if actual == 'n' else actual})")
    return missing


def check_kernel_config(
    config_file: Path, release: str, fragments: tuple[str, ...] = REQUIRED_FRAGMENTS
) -> None:
    """UserError naming every required option the kernel's config lacks."""
    config = parse_config(config_file.read_text(errors="replace"))
    for name in fragments:
        missing = missing_options(parse_config((FRAGMENT_DIR / name).read_text()), config)
        if missing:
            raise UserError(
                f"kernel {release} lacks {', '.join(missing)} (kernel-configs/{name}); "
                "boot a kernel built with that fragment"
            )
