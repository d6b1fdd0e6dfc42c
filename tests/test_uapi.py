"""fixtures/abi/uapi.py against the installed kernel headers, compiled with the C compiler."""

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.abi.uapi import SYSCALL_NUMBERS, GetFlag, MbindFlag, Mode, ModeFlag

HEADER = Path("/usr/include/linux/mempolicy.h")


def constants() -> dict[str, int]:
    values: dict[str, int] = {}
    for enum in (Mode, ModeFlag, GetFlag, MbindFlag):
        values.update({member.name: int(member.value) for member in enum})  # type: ignore[union-attr]
    return values


@pytest.fixture(scope="module")
def header_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not HEADER.exists():
        pytest.skip("needs a C compiler and linux/mempolicy.h (linux-libc-dev)")
    # Older headers lack the newest modes (enum members cannot be tested with #ifdef):
    # only the names the header spells are compiled, the rest are newer than it.
    text = HEADER.read_text()
    names = sorted(name for name in constants() if re.search(rf"\b{name}\b", text))
    syscalls = sorted(SYSCALL_NUMBERS.get(platform.machine(), {}))
    lines = [
        "#include <stdio.h>",
        "#include <sys/syscall.h>",
        "#include <linux/mempolicy.h>",
        "int main(void) {",
    ]
    lines += [f'  printf("{name} %ld\\n", (long)({name}));' for name in names]
    for name in syscalls:
        lines += [f"#ifdef SYS_{name}", f'  printf("{name} %ld\\n", (long)SYS_{name});', "#endif"]
    lines.append("  return 0;\n}")
    source = tmp_path_factory.mktemp("uapi") / "probe.c"
    source.write_text("\n".join(lines) + "\n")
    binary = source.with_suffix("")
    compiled = subprocess.run(
        [compiler, "-o", str(binary), str(source)], capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stderr
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    return {name: int(value) for name, value in (line.split() for line in output.splitlines())}


def test_mempolicy_constants_match_the_headers(header_values: dict[str, int]) -> None:
    ours = constants()
    checked = {name: value for name, value in header_values.items() if name in ours}
    assert len(checked) >= 14
    assert checked == {name: ours[name] for name in checked}


def test_syscall_numbers_match_the_headers(header_values: dict[str, int]) -> None:
    ours = SYSCALL_NUMBERS[platform.machine()]
    checked = {name: value for name, value in header_values.items() if name in ours}
    assert set(checked) >= {
        "mbind",
        "set_mempolicy",
        "get_mempolicy",
        "migrate_pages",
        "move_pages",
    }
    assert checked == {name: ours[name] for name in checked}
