"""JUnit XML of one run, from its result document: what CI systems show per test.

Written on the host from the document rather than by pytest's junitxml plugin in the
guest: the document is there for a run whose guest died too (salvage), and the plugin
cost every case time under TCG. A kernel finding (`fail`) is a JUnit failure, a case
that could not reach a verdict (`error`) an error; `skip` and `unsupported` are skipped,
the reason saying which.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.results import RunDocument, Verdict, column_label

SUITE_NAME = "mempolicy-conformance"


def run_junit(doc: RunDocument) -> str:
    """One <testcase> per case, classname its area, name its id, time its duration."""
    suite = ET.Element("testsuite", name=SUITE_NAME, hostname=column_label(doc))
    counts = dict.fromkeys(("failures", "errors", "skipped"), 0)
    total_s = 0.0
    for case in doc.cases:
        element = ET.SubElement(
            suite,
            "testcase",
            classname=case.area,
            name=case.id,
            time=f"{case.duration_s:.3f}",
        )
        total_s += case.duration_s
        if case.verdict == Verdict.FAIL:
            tag, counter = "failure", "failures"
        elif case.verdict == Verdict.ERROR:
            tag, counter = "error", "errors"
        elif case.verdict in (Verdict.SKIP, Verdict.UNSUPPORTED):
            tag, counter = "skipped", "skipped"
        else:
            continue
        counts[counter] += 1
        outcome = ET.SubElement(element, tag, message=f"{case.verdict}: {first_line(case.message)}")
        outcome.text = case.message
    suite.set("tests", str(len(doc.cases)))
    for name, count in counts.items():
        suite.set(name, str(count))
    suite.set("time", f"{total_s:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
