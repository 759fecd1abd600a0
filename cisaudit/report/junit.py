"""JUnit XML: one test suite per target, one test case per control, for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from itertools import groupby
from pathlib import Path

from cisaudit.model import Run, Status
from cisaudit.report.context import format_value
from cisaudit.report.rows import Row, rows

# What a CI dashboard should make of each verdict.
_ELEMENT = {
    Status.FAIL: "failure",
    Status.ERROR: "error",
    Status.MANUAL: "skipped",
    Status.NOT_APPLICABLE: "skipped",
    Status.WAIVED: "skipped",
}


def _details(row: Row, lang: str) -> str:
    r = row.result
    lines = [f"{row.key}: {row.title(lang)}", f"status: {r.status.value}"]
    for label, value in (
        ("reason", r.reason),
        ("observed", format_value(r.observed)),
        ("expected", format_value(r.expected)),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines += [f"offender: {o}" for o in row.offenders]
    if r.waiver:
        lines.append(f"waiver: {format_value(r.waiver)}")
    if row.remediation:
        lines.append(f"remediation:\n{row.remediation}")
    return "\n".join(lines)


def build_junit(run: Run, *, lang: str = "en") -> ET.ElementTree:
    root = ET.Element("testsuites", name=f"cisaudit {run.run_id}")
    totals: Counter[str] = Counter()
    for target, group in groupby(rows(run), key=lambda row: row.target.name):
        items = list(group)
        counts = Counter(_ELEMENT.get(row.result.status, "pass") for row in items)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=target,
            tests=str(len(items)),
            failures=str(counts["failure"]),
            errors=str(counts["error"]),
            skipped=str(counts["skipped"]),
            timestamp=items[0].target.started_at or run.started_at,
            time=f"{items[0].target.duration_s or 0:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("address", items[0].target.address or ""),
            ("benchmark", items[0].target.benchmark),
            ("reachable", str(items[0].target.reachable).lower()),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        for row in items:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{row.target.pack_of(row.result)}.{row.section}",
                name=f"{row.result.control_id} {row.title(lang)}",
                time="0",
            )
            element = _ELEMENT.get(row.result.status)
            if element:
                child = ET.SubElement(
                    case,
                    element,
                    message=row.result.reason or row.result.status.value,
                    type=row.result.status.value,
                )
                child.text = _details(row, lang)
        totals.update(counts)
        totals["tests"] += len(items)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failure"]))
    root.set("errors", str(totals["error"]))
    root.set("skipped", str(totals["skipped"]))
    return ET.ElementTree(root)


def render_junit(run: Run, out: Path, *, lang: str = "en") -> Path:
    tree = build_junit(run, lang=lang)
    ET.indent(tree)
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out
