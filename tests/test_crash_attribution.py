"""A real kernel crash during a case, replayed: the plugin must make that case, and only
that case, an `error` carrying the kernel's words, in the result document, the JUnit XML
and pytest's exit status alike.

Each crash is the console of a real run (tests/crash_module/capture.sh: Debian's 6.12, the
default topology, crashme.ko loaded during placement-mbind-bind-node1, once to oops, once
to WARN); its kernel lines
are written, as /dev/kmsg records, to the file the plugin reads as the kernel log.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vm.console import crashes
from vm.runner import REPO_ROOT

pytest_plugins = ["pytester"]

CONSOLE = Path(__file__).parent / "data" / "console"
_CONSOLE_LINE = re.compile(r"^\[\s*(\d+)\.(\d+)\] (.*)$")


def kmsg_records(console: Path, first: str, last: str) -> str:
    """The console lines from `first` to `last` (substrings) as /dev/kmsg records."""
    records, inside = [], False
    for seq, line in enumerate(console.read_text(errors="replace").splitlines()):
        match = _CONSOLE_LINE.match(line)
        if not match:
            continue
        seconds, micros, text = match.groups()
        inside = inside or first in text
        if inside:
            records.append(f"4,{seq},{int(seconds) * 1_000_000 + int(micros)},-;{text}\n")
        if inside and last in text:
            break
    return "".join(records)


CASES = """
import os

def test_before():
    pass

def test_crashing():
    with open(os.environ["FAKE_KMSG"], "a") as log:
        log.write(os.environ["CRASH_RECORDS"])

def test_after():
    pass
"""


@pytest.mark.parametrize(
    ("log", "first", "last", "expected"),
    [
        (
            "oops-crashme-6.12.log",
            "crashme: loading",
            "end trace",
            [
                "bug: BUG: kernel NULL pointer dereference, address: 0000000000000000",
                "oops: Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI",
            ],
        ),
        (
            "warning-crashme-6.12.log",
            "crashme: loading",
            "end trace",
            [
                "warning: WARNING: CPU: 0 PID: 323 at /work/main/tests/crash_module/crashme.c:27"
                " crashme_init+0x87/0xff0 [crashme]"
            ],
        ),
    ],
)
def test_a_real_crash_is_pinned_on_its_case(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    log: str,
    first: str,
    last: str,
    expected: list[str],
) -> None:
    kmsg = pytester.path / "kmsg"
    kmsg.write_text("6,1,1,-;a line logged before the session\n")
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    monkeypatch.setenv("FAKE_KMSG", str(kmsg))
    monkeypatch.setenv("CRASH_RECORDS", kmsg_records(CONSOLE / log, first, last))
    pytester.makepyfile(test_area=CASES)
    pytester.makeini("[pytest]\naddopts = -p fixtures.plugin -p no:cacheprovider\n")
    result_json, junit = pytester.path / "result.json", pytester.path / "junit.xml"
    outcome = pytester.runpytest_subprocess(
        f"--result-json={result_json}", f"--junitxml={junit}", f"--kernel-log={kmsg}"
    )

    cases = {c["id"]: c for c in json.loads(result_json.read_text())["cases"]}
    assert {cid: c["verdict"] for cid, c in cases.items()} == {
        "area-before": "pass",
        "area-crashing": "error",
        "area-after": "pass",
    }
    assert cases["area-crashing"]["observed"]["kernel_log"] == expected
    assert expected[0] in cases["area-crashing"]["message"]
    # pytest agrees: an error in its summary, its JUnit XML and its exit status.
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    outcome.assert_outcomes(passed=3, errors=1)
    assert 'errors="1"' in junit.read_text()


def test_the_console_of_the_run_tells_the_same() -> None:
    found = crashes(CONSOLE / "oops-crashme-6.12.log")
    assert found == [
        "bug: BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "oops: Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI",
    ]
