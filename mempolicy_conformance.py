"""The `mempolicy-conformance` command: one name for the tools of this checkout.

    mempolicy-conformance run|build|bench ...   python -m vm run|build|bench ...
    mempolicy-conformance report FILE|DIR ...   python -m reports table ...
    mempolicy-conformance gate BASELINE RUN ... python -m reports gate ...

The suite runs from its checkout, the way kernel test tools do (pyproject.toml says why):
this module is the only one installed, and it runs the checkout's own `vm` and `reports`.
Which checkout, first found:

1. $MEMPOLICY_CONFORMANCE_CHECKOUT, for a checkout moved after installing;
2. the folder this file is in, when it is a checkout (an editable install, as tox makes,
   or `python3 mempolicy_conformance.py` in the checkout);
3. the checkout `pip install .` was run in, recorded at build time by setup.py in
   `mempolicy_conformance_checkout.py`.

Standard library only: it must say what is wrong in one line in a bare Python.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "mempolicy-conformance"
ENV = "MEMPOLICY_CONFORMANCE_CHECKOUT"
# subcommand -> (the checkout's module whose main() runs it, the arguments put first)
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run": ("vm", ("run",)),
    "build": ("vm", ("build",)),
    "bench": ("vm", ("bench",)),
    "report": ("reports", ("table",)),
    "gate": ("reports", ("gate",)),
}
USAGE = f"""usage: {PROG} COMMAND [ARGS...]

  run      boot a kernel in QEMU with a NUMA topology and run the matrix (python -m vm run)
  build    fetch or build the kernel and say where it is; no boot (python -m vm build)
  bench    boot a kernel and time the placement probes (python -m vm bench)
  report   compatibility table of result documents (python -m reports table)
  gate     compare a run with a baseline for CI (python -m reports gate)

`{PROG} COMMAND --help` for a command's options."""


class CheckoutError(RuntimeError):
    """No checkout of the suite to run (a user error: where it was installed from)."""


def is_checkout(folder: Path) -> bool:
    return all((folder / top / "__main__.py").is_file() for top in ("vm", "reports"))


def recorded_checkout() -> Path | None:
    """The checkout `pip install .` was run in, or None (an editable install records none)."""
    try:
        recorded = importlib.import_module("mempolicy_conformance_checkout")
    except ImportError:
        return None
    return Path(recorded.CHECKOUT)


def checkout(environ: dict[str, str] | None = None) -> Path:
    """The checkout to run (see the module's docstring for the order)."""
    environ = dict(os.environ) if environ is None else environ
    if ENV in environ:
        named = Path(environ[ENV])
        if not is_checkout(named):
            raise CheckoutError(f"{ENV}={named} is not a checkout of mempolicy-conformance")
        return named
    here = Path(__file__).resolve().parent
    if is_checkout(here):
        return here
    recorded = recorded_checkout()
    if recorded is None or not is_checkout(recorded):
        where = f" ({recorded} is gone)" if recorded else ""
        raise CheckoutError(
            f"no checkout of mempolicy-conformance to run{where}: run `pip install .` in the "
            f"checkout again, or set {ENV}"
        )
    return recorded


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    choices = ", ".join(COMMANDS)
    if not args:  # a usage error is one line, as in vm's and reports' (reports/arguments.py)
        print(f"{PROG}: error: give a command: {choices} (see --help)", file=sys.stderr)
        return 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"{PROG}: error: unknown command {name!r}: choose {choices}", file=sys.stderr)
        return 2
    try:
        root = checkout()
    except CheckoutError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module, head = COMMANDS[name]
    entry = importlib.import_module(f"{module}.__main__")
    status: int = entry.main([*head, *rest])
    return status


if __name__ == "__main__":
    sys.exit(main())
