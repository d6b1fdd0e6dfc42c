"""The guest's first module: the host's module snapshot is installed before vm.guest_main
and its imports (argparse, json, dataclasses, the boot clock...), which then come from
it too; a third of a second of the boot under TCG.

The guest's Python starts without `site` (-S, as the exec'ed probes do): the venv's .pth
files import an editable-install finder and pathlib, re, enum... cold from 9p before any
snapshot could serve them. `python -c pass` took 1.8 s cold and 0.8 s warm with site,
0.4 s without, in one 6.12 guest. The host's import path (PATH_ENV) stands in for what
site would have added; the worker and exec'ed programs are started as before.
"""

from __future__ import annotations

import os
import sys

from fixtures.system import module_code

PATH_ENV = "MEMPOLICY_GUEST_PATH"  # the host's sys.path, for a guest Python without site


def extend_path(entries: str) -> None:
    """Append the entries `site` would have added (those not on sys.path yet), in order."""
    for entry in entries.split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)


def main() -> int:
    with open("/proc/uptime", encoding="ascii") as uptime:  # the boot clock's, unimported
        python_s = float(uptime.read().split()[0])
    extend_path(os.environ.pop(PATH_ENV, ""))
    module_code.install()
    from vm import guest_main

    return guest_main.main(python_s=python_s)


if __name__ == "__main__":
    sys.exit(main())
