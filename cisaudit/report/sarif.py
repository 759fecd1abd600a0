"""SARIF 2.1.0: every verdict as a result against a rule per control.

Targets are hosts, not source files, so results carry logical locations (the target)
rather than physical ones. SARIF's ``kind`` has a word for each of our statuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cisaudit.model import Run, Status
from cisaudit.report.context import format_value
from cisaudit.report.rows import Row, rows

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_KIND = {
    Status.PASS: "pass",
    Status.FAIL: "fail",
    Status.MANUAL: "review",
    Status.NOT_APPLICABLE: "notApplicable",
    Status.ERROR: "open",  # SARIF: "the tool could not determine" the outcome
    Status.WAIVED: "fail",  # still a failure, carried with a suppression
}


def _rule(row: Row, lang: str) -> dict[str, Any]:
    control = row.control
    rule: dict[str, Any] = {
        "id": row.key,
        "name": row.result.control_id,
        "shortDescription": {"text": row.title(lang)},
    }
    if control:
        rule["fullDescription"] = {"text": row.text("description", lang) or row.title(lang)}
        rule["help"] = {
            "text": "\n\n".join(
                t
                for t in (
                    row.text("rationale", lang),
                    row.text("remediation", lang),
                    control.snippet,
                )
                if t
            )
        }
        rule["properties"] = {
            "benchmark": control.benchmark,
            "section": control.section,
            "level": control.level,
            "automated": control.automated,
            "tags": [
                control.benchmark,
                f"level{control.level}",
                *(f"{fw}:{c}" for fw, ids in sorted(control.mappings.items()) for c in ids),
            ],
        }
        if control.references:
            rule["helpUri"] = control.references[0]
    return rule


def _result(row: Row, rule_index: int, lang: str) -> dict[str, Any]:
    r = row.result
    message = r.reason or f"{r.control_id}: {r.status.value}"
    out: dict[str, Any] = {
        "ruleId": row.key,
        "ruleIndex": rule_index,
        "kind": _KIND[r.status],
        "message": {"text": message},
        "locations": [
            {
                "logicalLocations": [
                    {
                        "name": row.target.name,
                        "fullyQualifiedName": row.target.address or row.target.name,
                        "kind": "resource",
                    }
                ]
            }
        ],
        "properties": {
            "status": r.status.value,
            "observed": format_value(r.observed),
            "expected": format_value(r.expected),
            "offenders": row.offenders,
            "evidence": list(r.evidence),
        },
    }
    # SARIF allows a level other than "none" only on results whose kind is "fail".
    out["level"] = "error" if out["kind"] == "fail" else "none"
    if r.status is Status.WAIVED:
        out["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": format_value(r.waiver or r.reason),
            }
        ]
    if row.remediation and r.status is Status.FAIL:
        out["properties"]["remediation"] = row.remediation
    return out


def build_sarif(run: Run, *, lang: str = "en") -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for row in rows(run):
        if row.key not in index:
            index[row.key] = len(rules)
            rules.append(_rule(row, lang))
        results.append(_result(row, index[row.key], lang))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cisaudit",
                        "version": run.tool_version,
                        "semanticVersion": run.tool_version,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"cisaudit/{run.run_id}"},
                "invocations": [
                    {
                        "executionSuccessful": not run.interrupted,
                        "startTimeUtc": run.started_at,
                        "endTimeUtc": run.finished_at,
                    }
                ],
                "results": results,
            }
        ],
    }


def render_sarif(run: Run, out: Path, *, lang: str = "en") -> Path:
    out.write_text(
        json.dumps(build_sarif(run, lang=lang), ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8",
    )
    return out
