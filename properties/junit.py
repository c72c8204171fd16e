"""``tcpclose check --junit FILE``: the check report as JUnit XML, for CI systems that show tests.

One test suite per table of the report: every invariant (a failure when a machine violated it,
with the trace file to replay), every machine's coverage (a failure when a required event was
never reached), every known finding (a failure when it no longer reproduces). Rendering only:
the verdicts are the report's own.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from properties import invariants
from properties.checkrun import Report
from properties.findings import FINDINGS
from properties.report import kernel_words


def _suite(root: ET.Element, name: str, cases: list[tuple[str, str, str | None]]) -> None:
    """``cases``: (classname, name, failure message or None)."""
    failures = sum(1 for _, _, f in cases if f is not None)
    suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)), failures=str(failures), errors="0")
    for classname, case_name, failure in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=case_name)
        if failure is not None:
            ET.SubElement(case, "failure", message=failure).text = failure


def junit_xml(report: Report) -> str:
    root = ET.Element("testsuites", name=f"tcpclose check (profile {report.profile})")
    inv_cases: list[tuple[str, str, str | None]] = []
    for inv in invariants.REGISTRY.values():
        failed = [m for m in report.machines if m.violation is not None and m.violation.invariant == inv.name]
        failure = None
        if failed:
            failure = kernel_words(
                "; ".join(
                    f"violated by machine {m.name}: {str(m.violation).splitlines()[0]}; "
                    f"replay with: tcpclose replay {m.trace_file}"
                    for m in failed
                )
            )
        inv_cases.append((f"invariants.{inv.concern}", inv.name, failure))
    _suite(root, "invariants", inv_cases)
    _suite(
        root,
        "coverage",
        [
            ("coverage", m.name, f"required events never reached: {', '.join(m.missing)}" if m.missing else None)
            for m in report.machines
        ],
    )
    _suite(
        root,
        "findings",
        [
            ("findings", f"{fid} {inv}", None if ok else f"{FINDINGS[fid].title}: no longer reproduces")
            for fid, inv, ok in report.findings
        ],
    )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
