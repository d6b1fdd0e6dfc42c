"""The result document (reports/SCHEMA.md) and the KTAP stream: the one contract between
the guest that writes a run, the host that completes or salvages it, and the reports.

Everything that writes or reads a result document goes through this module: the schema
version, the verdicts, the case record, the document record, its exact JSON text
(`ResultDocument.to_json`), reading one back (`load`, `from_dict`), and both directions of
the KTAP stream (`KtapStream` writes it, `parse_ktap` reads it back into case records).

Why here: the three sides of the suite all need it, and each may depend on `reports` but
not on each other. The guest library (fixtures/) must not import the host side (vm/), the
host side must not import pytest plugins, and reports depends on nothing of the suite.
So this module imports only the standard library: the guest imports it without the host's
tools, and `python -m reports` reads documents without the guest's pytest and cffi.

The JSON is byte-for-byte what the writers produced before there was a contract: keys in
the schema's order, `indent=1`, a final newline. The sections the guest and host fill in
turn (`kernel`, `topology`, `host`, `run`) stay ordered mappings, so a document read and
written again keeps every key, in its order, including ones this module does not know.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

SCHEMA_VERSION = 1
"""The one schema version written, and the one the readers accept."""

SUITE = {"name": "mempolicy-conformance", "version": "0.1.0"}
CHECKOUT = Path(__file__).resolve().parent.parent


SUITE_VERSION_ENV = "MEMPOLICY_SUITE_VERSION"
"""Set by the host for the guest: the version it described before the boot."""


def suite_record(checkout: Path = CHECKOUT) -> dict[str, str]:
    """The suite that ran: its name, and `git describe` of its checkout (the fixed version
    only where there is no git). --no-optional-locks: the guest sees the checkout
    read-only, where a plain `git describe --dirty` would try to refresh the index.

    A guest takes the version the host put in SUITE_VERSION_ENV instead: the same
    checkout, described natively; git's stat of every tracked file over 9p cost seconds
    before the first case under TCG, and again at the end."""
    given = os.environ.get(SUITE_VERSION_ENV)
    if given:
        return {"name": SUITE["name"], "version": given}
    command = ["git", "--no-optional-locks", "-C", str(checkout), "describe", "--always",
               "--dirty", "--tags"]  # fmt: skip
    try:
        described = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return dict(SUITE)
    if described.returncode != 0 or not described.stdout.strip():
        return dict(SUITE)
    return {"name": SUITE["name"], "version": described.stdout.strip()}


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # a failed assertion: a kernel finding
    SKIP = "skip"  # the case does not apply here (too few nodes)
    ERROR = "error"  # the case could not run to a verdict (harness or child died)
    UNSUPPORTED = "unsupported"  # the kernel lacks the feature: not a failure


WORST_FIRST = (Verdict.ERROR, Verdict.FAIL, Verdict.PASS, Verdict.UNSUPPORTED, Verdict.SKIP)
"""The order in which one verdict outweighs another (a flaky case keeps its worst)."""

UNSUPPORTED_PREFIX = "unsupported: "
"""How `unsupported` travels where there is only a skip with a reason: a pytest skip and a
KTAP `# SKIP` directive both say `unsupported: <why>`."""


def skip_reason(verdict: Verdict | str, message: str) -> str:
    """The reason of a skip that stands for `verdict` (skip or unsupported)."""
    return UNSUPPORTED_PREFIX + message if verdict == Verdict.UNSUPPORTED else message


def skipped(reason: str) -> tuple[Verdict, str]:
    """The verdict and message a skip's reason stands for (the inverse of skip_reason)."""
    if reason.startswith(UNSUPPORTED_PREFIX):
        return Verdict.UNSUPPORTED, reason.removeprefix(UNSUPPORTED_PREFIX)
    return Verdict.SKIP, reason


class DocumentError(ValueError):
    """A file that is not a result document this module can read; the message is one line
    that names the file."""


def area_of(case_id: str) -> str:
    """A case id starts with its area: `placement-mbind-bind-node1` is in `placement`."""
    return case_id.split("-", 1)[0]


@dataclass
class CaseResult:
    """One case of a run, as the document records it."""

    id: str  # stable: the row key of every table and of a baseline
    area: str  # the conformance module the case lives in
    params: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict = Verdict.PASS
    expected: dict[str, Any] | None = None  # None when the case never got that far
    observed: dict[str, Any] | None = None
    message: str = ""  # the failure or skip reason
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # keys this module does not know

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": self.area,
            "params": self.params,
            "verdict": str(self.verdict),
            "expected": self.expected,
            "observed": self.observed,
            "message": self.message,
            "duration_s": round(self.duration_s, 4),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "case") -> CaseResult:
        if not isinstance(data, dict):
            raise DocumentError(f"{where}: not a JSON object")
        try:
            verdict = Verdict(data["verdict"])
            known = {name: data[name] for name in _CASE_KEYS}
        except KeyError as missing:
            raise DocumentError(f"{where}: no key {missing}") from None
        except ValueError:
            raise DocumentError(f"{where}.verdict: {data['verdict']!r} is not a verdict") from None
        return cls(
            **{**known, "verdict": verdict},
            extra={k: v for k, v in data.items() if k not in _CASE_KEYS},
        )


_CASE_KEYS = ("id", "area", "params", "verdict", "expected", "observed", "message", "duration_s")


@dataclass
class ResultDocument:
    """One run: one kernel, one topology, one profile, and its cases.

    The guest writes `kernel`, `topology`, `profile`, a bare-metal `host` and `run`, and
    the cases; the host completes `kernel`, `host` and `run` (reports/SCHEMA.md names the
    keys). Those sections are ordered mappings that the writers fill in turn.
    """

    kernel: dict[str, Any]
    topology: dict[str, Any]
    profile: str
    host: dict[str, Any]
    run: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    suite: dict[str, Any] = field(default_factory=lambda: dict(SUITE))
    extra: dict[str, Any] = field(default_factory=dict)  # top-level keys this module does not know

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "suite": self.suite,
            "kernel": self.kernel,
            "topology": self.topology,
            "profile": self.profile,
            "host": self.host,
            "run": self.run,
            "cases": [case.to_dict() for case in self.cases],
            **self.extra,
        }

    def to_json(self) -> str:
        """The document's text, exactly as every writer of the suite writes it."""
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: object, source: str = "document") -> ResultDocument:
        """A document from its parsed JSON; DocumentError (one line) if it is not one."""
        data = check_schema(data, source)
        try:
            known = {name: data[name] for name in _TOP_KEYS}
        except KeyError as missing:
            raise DocumentError(f"{source}: no key {missing}") from None
        for name in ("suite", "kernel", "topology", "host", "run"):
            if not isinstance(known[name], dict):
                raise DocumentError(f"{source}: {name}: not a JSON object")
        if not isinstance(known["cases"], list):
            raise DocumentError(f"{source}: cases: not a JSON array")
        cases = [
            CaseResult.from_dict(case, f"{source}: cases[{index}]")
            for index, case in enumerate(known["cases"])
        ]
        return cls(
            **{**known, "cases": cases},
            extra={k: v for k, v in data.items() if k not in _TOP_KEYS},
        )


_TOP_KEYS = ("schema", "suite", "kernel", "topology", "profile", "host", "run", "cases")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A result document's JSON object, schema version checked; `.json.gz` is gunzipped.

    DocumentError with one line naming the file when it cannot be read or is not one.
    """
    file = Path(path)
    try:
        if file.name.endswith(".gz"):  # a whole matrix is ~1 MB of JSON
            with gzip.open(file, "rb") as compressed:
                text = compressed.read().decode("utf-8")
        else:
            text = file.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise DocumentError(f"{file}: no such result file") from None
    except gzip.BadGzipFile:  # an OSError: before the catch-all below
        raise DocumentError(f"{file}: named .gz but not gzip data") from None
    except OSError as error:
        raise DocumentError(f"{file}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{file}: not a result document (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise DocumentError(
            f"{file}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    return check_schema(data, str(file))


def check_schema(data: object, source: str) -> dict[str, Any]:
    """`data` if it is a JSON object of the schema version this module knows."""
    if not isinstance(data, dict):
        raise DocumentError(f"{source}: not a result document (top level is not a JSON object)")
    version = data.get("schema")
    if isinstance(version, bool) or version != SCHEMA_VERSION or not isinstance(version, int):
        found = "none" if version is None else json.dumps(version)
        raise DocumentError(
            f"{source}: result schema version {found} is not supported"
            f" (this reader supports version {SCHEMA_VERSION})"
        )
    return data


def load(path: str | os.PathLike[str]) -> ResultDocument:
    """Read one result document (`.json` or `.json.gz`); DocumentError if it is not one."""
    return ResultDocument.from_dict(read_json(path), str(path))


# KTAP (Documentation/dev-tools/ktap.rst), for kselftest runners and the labs that parse it.
#
# One flat KTAP document: a version line, a plan, then one result line per case, streamed as
# each case ends, so a run cut short by a crash still says how far it got. `unsupported` is
# `ok ... # SKIP unsupported: ...`, as kselftest reports a missing feature; `fail` and
# `error` are `not ok` with the reason as diagnostic lines and `# <verdict>: <id>` last.

KTAP_VERSION_LINE = "KTAP version 1"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ktap_result_lines(number: int, case_id: str, verdict: str, message: str) -> list[str]:
    """The lines for one finished case: diagnostics first, then the result line."""
    name = case_id.replace("#", "_")  # '#' would start a directive
    if verdict == Verdict.PASS:
        return [f"ok {number} {name}"]
    if verdict in (Verdict.SKIP, Verdict.UNSUPPORTED):
        reason = _one_line(message) or str(verdict)
        return [f"ok {number} {name} # SKIP {skip_reason(verdict, reason)}"]
    diagnostics = [f"# {line}" for line in message.splitlines() if line.strip()][:20]
    return [*diagnostics, f"# {verdict}: {name}", f"not ok {number} {name}"]


class KtapStream:
    """Writes the header once the plan is known, then each case as it finishes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.written = 0

    def plan(self, count: int) -> None:
        self._emit([KTAP_VERSION_LINE, f"1..{count}"])

    def case(self, case_id: str, verdict: str, message: str) -> None:
        self.written += 1
        self._emit(ktap_result_lines(self.written, case_id, verdict, message))

    def _emit(self, lines: list[str]) -> None:
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()


def ktap_text(cases: Iterable[CaseResult]) -> str:
    """A whole KTAP document for finished cases, as KtapStream writes it."""
    cases = list(cases)
    lines = [KTAP_VERSION_LINE, f"1..{len(cases)}"]
    for number, case in enumerate(cases, 1):
        lines += ktap_result_lines(number, case.id, case.verdict, case.message)
    return "".join(line + "\n" for line in lines)


def parse_ktap(text: str) -> list[CaseResult]:
    """The finished cases of a KTAP stream that KtapStream wrote (a crash may cut it short).

    What KTAP carries survives: id, area, verdict, and the message on one line. The rest
    (params, expected, observed, duration) is only in the guest's result.json.
    """
    cases: list[CaseResult] = []
    diagnostics: list[str] = []
    broken = Verdict.FAIL
    for line in text.splitlines():
        if match := _BROKEN.match(line):
            broken = Verdict(match.group(1))
        elif line.startswith("# "):
            diagnostics.append(line[2:])
        elif match := _RESULT.match(line):
            result, case_id, skip = match.groups()
            if result == "not ok":
                verdict, message = broken, " ".join(diagnostics)
            elif skip is not None:
                verdict, message = skipped(skip)
            else:
                verdict, message = Verdict.PASS, ""
            cases.append(CaseResult(case_id, area_of(case_id), verdict=verdict, message=message))
            diagnostics, broken = [], Verdict.FAIL
    return cases


_RESULT = re.compile(r"^(ok|not ok) \d+ (\S+)(?: # SKIP ?(.*))?$")
_BROKEN = re.compile(r"^# (fail|error): (\S+)$")
