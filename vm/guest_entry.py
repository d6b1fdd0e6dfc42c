"""The guest's first module: the host's module snapshot is installed before vm.guest_main
and its imports (argparse, json, dataclasses, the boot clock...), which then come from
it too; a third of a second of the boot under TCG."""

from __future__ import annotations

import sys

from fixtures.system import module_code


def main() -> int:
    with open("/proc/uptime", encoding="ascii") as uptime:  # the boot clock's, unimported
        python_s = float(uptime.read().split()[0])
    module_code.install()
    from vm import guest_main

    return guest_main.main(python_s=python_s)


if __name__ == "__main__":
    sys.exit(main())
