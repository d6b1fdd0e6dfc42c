"""The dependency rule between the suite's parts, checked by reading every import (ast,
nothing is imported):

- reports/ depends on nothing of the suite, only on its own modules: it reads documents
  from any machine without the guest's pytest and cffi or the host's tools;
- reports/document.py, the result document's contract, imports the standard library only:
  the guest, the host and the reports all import it;
- the guest library (fixtures/, conformance/) does not import the host side (vm/);
  vm/guest_main.py is the guest's entry point, so it may import the guest library;
- the host side (vm/) does not import pytest plugins (fixtures/plugin*) nor the matrix
  (conformance/): it runs them in the guest, as a separate pytest;
- nothing of the suite imports the harness's own tests.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUITE = ("conformance", "fixtures", "reports", "vm", "tests")
CONTRACT = "reports/document.py"
GUEST_ENTRY = "vm/guest_main.py"


def imports(source: Path, module: str) -> Iterator[tuple[int, list[str]]]:
    """(line, modules it may import) for every import statement, also inside functions."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from fixtures import plugin` imports fixtures.plugin
            yield node.lineno, [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breach(relative: str, imported: str) -> str | None:
    """Why `relative` (a path like vm/runner.py) may not import `imported`, or None."""
    top = relative.split("/", 1)[0]
    if relative == CONTRACT:
        if imported.split(".", 1)[0] not in {*sys.stdlib_module_names, "__future__"}:
            return "the result document's contract imports the standard library only"
        return None
    if top == "reports" and _under(imported, *SUITE) and not _under(imported, "reports"):
        return "reports depends on nothing of the suite"
    if top in ("fixtures", "conformance") and _under(imported, "vm"):
        return "the guest library does not import the host side"
    if top == "vm" and relative != GUEST_ENTRY:
        parts = imported.split(".")
        plugin = parts[0] == "fixtures" and len(parts) > 1 and parts[1].startswith("plugin")
        if plugin or _under(imported, "conformance"):
            return "the host side does not import pytest plugins or the matrix"
    if _under(imported, "tests"):
        return "the suite does not import its own tests"
    return None


def breaches(root: Path) -> list[str]:
    """One line per import statement that breaks the rule, naming file, line and why."""
    found = []
    for top in SUITE[:-1]:  # the tests may import anything
        for source in sorted((root / top).rglob("*.py")):
            relative = source.relative_to(root).as_posix()
            module = relative.removesuffix(".py").replace("/", ".")
            for line, names in imports(source, module):
                for imported in names:
                    reason = breach(relative, imported)
                    if reason is not None:
                        found.append(f"{relative}:{line}: imports {imported}: {reason}")
                        break
    return found


def test_the_suite_keeps_its_dependency_rule() -> None:
    assert breaches(REPO) == []


@pytest.mark.parametrize(
    ("path", "line", "reason"),
    [
        ("reports/table.py", "from vm.errors import UserError", "reports depends on nothing"),
        ("reports/gate.py", "import fixtures.system.topology", "reports depends on nothing"),
        ("reports/document.py", "from reports.errors import UserError", "standard library"),
        ("reports/document.py", "import tabulate", "standard library"),
        ("fixtures/system/kmsg.py", "from vm.console import findings", "guest library"),
        ("conformance/test_x.py", "from vm import topology", "guest library"),
        ("vm/runner.py", "from fixtures.plugin import CaseRecord", "pytest plugins"),
        ("vm/annotate.py", "from fixtures import plugin", "pytest plugins"),
        ("vm/salvage.py", "from conformance.test_placement import MATRIX", "the matrix"),
        ("fixtures/system/probe.py", "from tests.helpers import fake", "its own tests"),
        ("reports/html.py", "from . import results\nfrom ..vm import errors", "nothing of"),
    ],
)
def test_a_breach_is_found(tmp_path: Path, path: str, line: str, reason: str) -> None:
    for top in SUITE:
        (tmp_path / top).mkdir()
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(line + "\n")
    found = breaches(tmp_path)
    assert len(found) == 1 and reason in found[0], found


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("reports/gate.py", "from reports.results import load"),
        ("reports/document.py", "import gzip\nfrom typing import TextIO"),
        ("fixtures/plugin/__init__.py", "from reports.document import KtapStream"),
        ("vm/guest_main.py", "from fixtures.system import bench_probe"),
        ("vm/__main__.py", "from fixtures.profiles import load_profile"),
        ("vm/console.py", "from fixtures.system.kmsg import findings"),
    ],
)
def test_what_the_rule_allows(tmp_path: Path, path: str, line: str) -> None:
    for top in SUITE:
        (tmp_path / top).mkdir()
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(line + "\n")
    assert breaches(tmp_path) == []
