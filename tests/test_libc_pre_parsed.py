"""fixtures/abi/_libc_cffi.py: current with libc.py's CDEF, the same types as CDEF parsed,
and libc.py parsing CDEF itself when the pre-parsed module was made from other text."""

import subprocess
import sys
from pathlib import Path

import cffi

from fixtures.abi import _libc_cffi
from fixtures.abi.libc import CDEF, ffi, load_ffi
from fixtures.abi.pre_parse import TARGET, pre_parsed_source

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("syscall", "mmap", "mremap", "vmsplice", "mount", "mincore", "shmat", "capset")
TYPES = ("struct iovec", "cap_header", "cap_data[2]", "volatile uint64_t *", "unsigned long")


def test_the_committed_module_is_written_from_cdef() -> None:
    assert TARGET.read_text() == pre_parsed_source(CDEF), (
        "fixtures/abi/_libc_cffi.py is stale: run python -m fixtures.abi.pre_parse"
    )


def test_libc_uses_the_pre_parsed_ffi() -> None:
    assert ffi is _libc_cffi.ffi


def test_pre_parsed_types_are_the_parsed_ones() -> None:
    parsed = cffi.FFI()
    parsed.cdef(CDEF)
    ours, theirs = ffi.dlopen(None), parsed.dlopen(None)
    for name in FUNCTIONS:
        assert ffi.typeof(getattr(ours, name)).cname == parsed.typeof(getattr(theirs, name)).cname
    for name in TYPES:
        assert ffi.typeof(name).cname == parsed.typeof(name).cname
        assert ffi.sizeof(name) == parsed.sizeof(name)


def test_other_declarations_are_parsed_now() -> None:
    other = load_ffi("int abs(int);")
    assert other is not _libc_cffi.ffi
    assert other.dlopen(None).abs(-3) == 3


def test_a_new_interpreter_imports_no_c_parser() -> None:
    code = (
        "import sys, fixtures.abi.syscalls, fixtures.system.probe\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cffi', 'pycparser')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
