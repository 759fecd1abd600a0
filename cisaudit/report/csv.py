"""CSV: one row per target x control, for spreadsheets.

After the fixed columns come the waiver's id and the status as judged before waivers,
then one column per framework of the run, named by its id, listing the items the
control gives direct evidence for with their verdict on that target
(``L3-CES1-17=partial; L3-CES1-18=non_compliant``)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from cisaudit.model import Run
from cisaudit.report.context import format_value
from cisaudit.report.rows import rows
from cisaudit.waivers import status_without_waivers

COLUMNS = [
    "target",
    "address",
    "kind",
    "groups",
    "reachable",
    "benchmark",
    "control_id",
    "section",
    "title",
    "level",
    "automated",
    "status",
    "reason",
    "observed",
    "expected",
    "offenders",
    "evidence",
    "remediation",
    "waiver",
    "waiver_id",
    "status_without_waivers",
]

# A cell starting like a formula would run in a spreadsheet (`-1+cmd|calc!A0` is one, for
# all it starts like a number); host, container and label text is foreign data, so every
# cell starting with = + - @ tab or carriage return gets a leading apostrophe (OWASP).
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else format_value(value)
    return "'" + text if _FORMULA.match(text) else text


def _framework_items(run: Run) -> dict[str, dict[str, list[str]]]:
    """Framework id -> control key -> the items it gives direct evidence for."""
    found: dict[str, dict[str, list[str]]] = {}
    for framework_id, framework in run.frameworks.items():
        by_control = found.setdefault(framework_id, {})
        for item in framework.get("items", []):
            for key in item.get("controls", []):
                by_control.setdefault(key, []).append(str(item["id"]))
    return found


def render_csv(run: Run, out: Path, *, lang: str = "en") -> Path:
    """Write ``out`` (UTF-8 with BOM so that spreadsheet programs read Chinese right)."""
    items = _framework_items(run)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS + list(items))
        for row in rows(run):
            t, r, c = row.target, row.result, row.control
            framework_cells = []
            for framework_id, by_control in items.items():
                targets = run.frameworks[framework_id].get("verdicts", {})
                framework_cells.append(
                    "; ".join(
                        f"{item}="
                        + str((targets.get(item, {}).get("targets", {}).get(t.name) or ["-"])[0])
                        for item in by_control.get(row.key, [])
                    )
                )
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        t.name,
                        t.address or "",
                        t.kind,
                        ";".join(t.groups),
                        str(t.reachable).lower(),
                        t.pack_of(r),
                        r.control_id,
                        row.section,
                        row.title(lang),
                        c.level if c else "",
                        (str(c.automated).lower() if c else ""),
                        r.status.value,
                        r.reason or (t.error or "" if not t.reachable else ""),
                        format_value(r.observed),
                        format_value(r.expected),
                        "; ".join(row.offenders),
                        ";".join(r.evidence),
                        row.remediation,
                        format_value(r.waiver) if r.waiver else "",
                        ",".join((r.waiver or {}).get("ids") or []),
                        status_without_waivers(r).value,
                        *framework_cells,
                    )
                ]
            )
    return out
