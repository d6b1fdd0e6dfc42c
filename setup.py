"""Records the checkout `pip install .` runs in, for the `mempolicy-conformance` command.

Everything else is in pyproject.toml. The suite runs from its checkout (see the comment
on [tool.setuptools] there), so the one module installed, mempolicy_conformance.py, must
know where that checkout is: build_py writes it into mempolicy_conformance_checkout.py
beside it. A wheel built from an unpacked sdist would record a temporary folder; the
command then says so in one line (install from the checkout, or editable, as tox does).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CHECKOUT = Path(__file__).resolve().parent


class build_py_recording_checkout(build_py):  # type: ignore[misc]  # setuptools is untyped
    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install runs the checkout's own file
            target = Path(self.build_lib) / "mempolicy_conformance_checkout.py"
            target.write_text(
                f'"""Written by setup.py when the suite was installed."""\n\n'
                f"CHECKOUT = {str(CHECKOUT)!r}\n"
            )


setup(cmdclass={"build_py": build_py_recording_checkout})
