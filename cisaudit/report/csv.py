"""CSV: one row per target x control, for spreadsheets."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from cisaudit.model import Run
from cisaudit.report.context import format_value
from cisaudit.report.rows import rows

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
]

# A cell starting like a formula would run in a spreadsheet (`-1+cmd|calc!A0` is one, for
# all it starts like a number); host, container and label text is foreign data, so every
# cell starting with = + - @ tab or carriage return gets a leading apostrophe (OWASP).
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else format_value(value)
    return "'" + text if _FORMULA.match(text) else text


def render_csv(run: Run, out: Path, *, lang: str = "en") -> Path:
    """Write ``out`` (UTF-8 with BOM so that spreadsheet programs read Chinese right)."""
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows(run):
            t, r, c = row.target, row.result, row.control
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
                    )
                ]
            )
    return out
