"""The report context: everything a report template may use, built once from a ``Run``.

The HTML and PDF templates read only this context (plain dicts, lists, strings and
numbers, so it is JSON-serialisable and golden-tested in
``tests/test_report_context.py``). Its keys are documented in ``docs/reports.md``; a
user template directory (``--templates``) can rely on them.

Text that exists in several languages is a ``{lang: text}`` mapping holding exactly the
languages of the report (``langs``); the ``tx`` macro prints them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cisaudit import rollup
from cisaudit.digest import text_sha256
from cisaudit.model import ControlInfo, Result, Run, Status, TargetResult
from cisaudit.report import charts
from cisaudit.report.i18n import LANG_CHOICES, labels_for, localise

CONTEXT_VERSION = "1"
STATUSES = [s.value for s in Status]
FULL_STATUSES = ("FAIL", "ERROR")  # shown in full per target; the rest as compact lists
COMPACT_ORDER = ("WAIVED", "MANUAL", "NOT_APPLICABLE", "PASS")
TOP_RISKS = 10
GROUP_ROWS = 200
WORST_TARGETS = 15
EXCERPT_LINES = 6
EXCERPT_CHARS = 600
VALUE_CHARS = 2000
# Fleet layout (``layout="fleet"``): target names printed under each failing control, and
# rows of the "errors by control" table. Beyond them the report says how many more there
# are; results.json, the CSV and the per-target reports have every one.
FLEET_NAMES = 400
FLEET_ERROR_ROWS = 200
LAYOUTS = ("full", "fleet")


@dataclass(frozen=True)
class ReportMeta:
    """Who the report is for and by; given on the command line, not in results.json."""

    org: str = ""
    client: str = ""
    assessor: str = ""
    generated_at: str = ""  # ISO 8601, UTC; fixed by tests for golden output


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the PDF, listed in the annex with its SHA-256."""

    name: str
    data: bytes
    mime: str
    description: str
    relationship: str = "Supplement"  # PDF/A-3 AFRelationship: Data, Source or Supplement

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class SignatureInfo:
    """What the signature page says about the signature that will be applied."""

    signer: str = ""
    cert_sha256: str = ""
    tsa_url: str = ""


@dataclass
class _Ctx:
    run: Run
    langs: tuple[str, ...]
    colors: Mapping[str, str]
    evidence: Mapping[str, Any]
    fallback_controls: dict[str, ControlInfo] = field(default_factory=dict)
    explained: set[str] = field(default_factory=set)  # controls whose "why" was printed
    judged: dict[tuple[str, str], dict[str, Result]] = field(default_factory=dict)
    _by_name: dict[str, TargetResult] = field(default_factory=dict)
    _failures: tuple[dict[str, list[str]], dict[str, ControlInfo]] | None = None

    def results_for(self, target: TargetResult, framework_id: str) -> dict[str, Result]:
        """``rollup.results_for``, built once per target and framework (every item of a
        framework asks again, which is quadratic at fleet size)."""
        key = (target.name, framework_id)
        found = self.judged.get(key)
        if found is None:
            found = self.judged[key] = rollup.results_for(target, framework_id)
        return found

    def tx(self, texts: Mapping[str, str] | None) -> dict[str, str]:
        return {lang: localise(texts, lang) for lang in self.langs}

    def control(self, target: TargetResult, result: Result) -> ControlInfo:
        key = target.control_key(result)
        info = self.run.controls.get(key)
        if info is None:  # a result for a control the run did not describe: show its id
            info = self.fallback_controls.setdefault(
                key,
                ControlInfo(
                    id=result.control_id,
                    benchmark=target.pack_of(result),
                    section=result.control_id.split(".")[0],
                    title={"en": result.control_id},
                    level=1,
                    profiles=[],
                    automated=True,
                    cis_assessment="",
                ),
            )
        return info

    def failures(self) -> tuple[dict[str, list[str]], dict[str, ControlInfo]]:
        """Each control that failed somewhere (by ``benchmark/id``), the most widespread
        first: the targets it failed on, and the control. Built once per context: the
        summary and the fleet chapter both read it."""
        if self._failures is None:
            failing, infos = self.with_status(Status.FAIL)
            ranked = sorted(
                failing,
                key=lambda k: (
                    -len(failing[k]),
                    infos[k].level,
                    infos[k].benchmark,
                    natural_key(infos[k].id),
                ),
            )
            self._failures = ({k: failing[k] for k in ranked}, infos)
        return self._failures

    def with_status(self, status: Status) -> tuple[dict[str, list[str]], dict[str, ControlInfo]]:
        """The controls with this status somewhere (by ``benchmark/id``): the targets it
        has it on, in run order, and the control."""
        targets: dict[str, list[str]] = defaultdict(list)
        infos: dict[str, ControlInfo] = {}
        for target in self.run.targets:
            for result in target.results:
                if result.status is status:
                    info = self.control(target, result)
                    key = f"{info.benchmark}/{info.id}"
                    targets[key].append(target.name)
                    infos[key] = info
        return targets, infos

    def by_name(self) -> dict[str, TargetResult]:
        if not self._by_name:
            self._by_name.update((t.name, t) for t in self.run.targets)
        return self._by_name

    def section_title(self, benchmark: str, section: str) -> dict[str, str]:
        texts = self.run.sections.get(benchmark, {}).get(section)
        return self.tx(texts) if texts else {lang: section for lang in self.langs}


def natural_key(control_id: str) -> tuple[Any, ...]:
    """Sort "5.10" after "5.9": numbers compare as numbers."""
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", control_id)
    )


def format_value(value: Any) -> str:
    """Observed/expected values as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    )
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + " …"


def benchmark_info(benchmark: str) -> dict[str, str]:
    """``cis-docker-1.6.0`` -> name "CIS Docker Benchmark", version "1.6.0"."""
    match = re.match(r"^cis-(?P<product>.+?)-v?(?P<version>\d[\w.]*)$", benchmark)
    if not match:
        return {"id": benchmark, "name": benchmark, "version": ""}
    product = match["product"].replace("-", " ").title()
    return {"id": benchmark, "name": f"CIS {product} Benchmark", "version": match["version"]}


def _counts(results: Iterable[Result]) -> dict[str, int]:
    counter = Counter(r.status.value for r in results)
    return {s: counter.get(s, 0) for s in STATUSES}


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _percent(fraction: Any, fallback: float | None) -> float | None:
    if isinstance(fraction, (int, float)):
        return round(100.0 * fraction, 1)
    return fallback


def _summary(ctx: _Ctx) -> dict[str, Any]:
    all_results = [r for t in ctx.run.targets for r in t.results]
    counts = _counts(all_results)
    fleet = ctx.run.summary.get("fleet", {}) if isinstance(ctx.run.summary, dict) else {}
    controls = ctx.run.controls.values()
    # The scorer (cisaudit/score.py) gives the score in percent and both rates as fractions;
    # the report shows percentages. While a key is missing, the same definitions are
    # computed here: passes among all verdicts, automated among the run's controls.
    pass_rate = _percent(fleet.get("pass_rate"), _rate(counts["PASS"], len(all_results)))
    coverage = _percent(
        fleet.get("automated_coverage"),
        _rate(sum(c.automated for c in controls), len(ctx.run.controls)),
    )
    return {
        "score": fleet.get("score"),
        "score_without_waivers": fleet.get("score_without_waivers", fleet.get("score")),
        "waived": counts["WAIVED"],
        "pass_rate": pass_rate,
        "automated_coverage": coverage,
        "counts": counts,
        "total_results": len(all_results),
        "targets_total": len(ctx.run.targets),
        "targets_audited": sum(t.reachable for t in ctx.run.targets),
        "unreachable": [
            {"name": t.name, "address": t.address or "", "error": t.error or ""}
            for t in ctx.run.targets
            if not t.reachable
        ],
        "exit_code": ctx.run.summary.get("exit_code")
        if isinstance(ctx.run.summary, dict)
        else None,
        # Inventory groups, Kubernetes namespaces (ns:cluster/namespace) and owner labels
        # (team:payments), each with its score with and without waivers.
        "groups": [
            {
                "name": name,
                "score": block.get("score"),
                "score_without_waivers": block.get("score_without_waivers"),
                "counts": {s: (block.get("counts") or {}).get(s, 0) for s in STATUSES},
            }
            for name, block in sorted(
                (
                    (ctx.run.summary.get("groups") or {})
                    if isinstance(ctx.run.summary, dict)
                    else {}
                ).items()
            )
        ][:GROUP_ROWS],
        "interrupted": ctx.run.interrupted,
    }


def _charts(ctx: _Ctx) -> dict[str, Any]:
    by_section: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_level: dict[int, Counter[str]] = defaultdict(Counter)
    multi = len({t.pack_of(r) for t in ctx.run.targets for r in t.results}) > 1
    for target in ctx.run.targets:
        if not target.reachable:
            continue
        for result in target.results:
            info = ctx.control(target, result)
            by_section[(info.benchmark, info.section)][result.status.value] += 1
            by_level[info.level][result.status.value] += 1
    lang = ctx.langs[0]
    section_rows = []
    for bench, section in sorted(by_section, key=lambda k: (k[0], natural_key(k[1]))):
        title = ctx.section_title(bench, section)[lang]
        prefix = (
            f"{benchmark_info(bench)['name'].replace('CIS ', '').replace(' Benchmark', '')} "
            if multi
            else ""
        )
        label = f"{prefix}{section}. {title}" if title != section else f"{prefix}{section}"
        section_rows.append((label, by_section[(bench, section)]))
    worst = sorted(
        (t for t in ctx.run.targets if t.reachable),
        key=lambda t: (-sum(r.status is Status.FAIL for r in t.results), t.name),
    )[:WORST_TARGETS]
    level_word = labels_for((lang,))["level"][lang]
    return {
        "sections": charts.stacked_bars(section_rows, ctx.colors),
        "targets": charts.stacked_bars([(t.name, _counts(t.results)) for t in worst], ctx.colors),
        "levels": charts.stacked_bars(
            [(f"{level_word} {lvl}", by_level[lvl]) for lvl in sorted(by_level)], ctx.colors
        ),
    }


def _failing_controls(ctx: _Ctx) -> list[dict[str, Any]]:
    """Every control that failed somewhere, the most widespread first."""
    failing, infos = ctx.failures()
    audited = max(sum(t.reachable for t in ctx.run.targets), 1)
    return [
        {
            "key": key,
            "control_id": infos[key].id,
            "benchmark": infos[key].benchmark,
            "title": ctx.tx(infos[key].title),
            "level": infos[key].level,
            "rationale": ctx.tx(infos[key].rationale),
            "targets": failing[key][:8],
            "targets_more": max(len(failing[key]) - 8, 0),
            "target_count": len(failing[key]),
            "target_share": _rate(len(failing[key]), audited),
        }
        for key in failing
    ]


def _finding(ctx: _Ctx, target: TargetResult, result: Result) -> dict[str, Any]:
    info = ctx.control(target, result)
    key = f"{info.benchmark}/{info.id}"
    # Why a control matters and how to fix it in general is the same on every target:
    # printed in full at its first failure, referenced (with its page) afterwards.
    explain = result.status is Status.FAIL and key not in ctx.explained
    if explain:
        ctx.explained.add(key)
    return {
        "control_id": result.control_id,
        "key": key,
        "anchor": _anchor(target.name, result.control_id),
        "explain": explain,
        "explain_anchor": _anchor("why", key),
        "status": result.status.value,
        "title": ctx.tx(info.title),
        "section": info.section,
        "level": info.level,
        "automated": info.automated,
        "reason": result.reason,
        "observed": format_value(result.observed),
        "expected": format_value(result.expected),
        "offenders": [
            {"kind": o.kind, "name": o.name, "id": o.id or "", "observed": format_value(o.observed)}
            for o in result.offenders
        ],
        "evidence": list(result.evidence),
        "rationale": ctx.tx(info.rationale),
        "remediation": ctx.tx(info.remediation),
        "snippet": result.remediation or info.snippet,
        "snippet_kind": info.snippet_kind,
        "audit": ctx.tx(info.audit),
        "waiver": _waiver_view(result.waiver),
    }


def _waiver_view(waiver: Mapping[str, Any] | None) -> dict[str, str] | None:
    """What a finding shows of the waiver on it (results of any schema version)."""
    if not waiver:
        return None
    ids = waiver.get("ids") or ([waiver["id"]] if waiver.get("id") else [])
    return {
        "ids": ", ".join(str(i) for i in ids),
        "approved_by": format_value(waiver.get("approved_by") or waiver.get("by") or ""),
        "ticket": format_value(waiver.get("ticket") or ""),
        "expires": format_value(waiver.get("expires") or waiver.get("until") or ""),
        "reason": format_value(waiver.get("reason") or ""),
        "partial": "yes" if waiver.get("partial") else "",
    }


def _fleet(ctx: _Ctx, files: Mapping[str, str]) -> dict[str, Any]:
    """The fleet layout's chapter: the worst targets, every target in a table under its
    first group, and the findings grouped by control across targets. Its size grows with
    the number of targets by one table row each, never by a page each: per-target detail
    is in the per-target reports (``files``: target name -> report file)."""
    scored = ctx.run.summary.get("targets", {}) if isinstance(ctx.run.summary, dict) else {}
    rows: list[dict[str, Any]] = []
    failing, infos = ctx.failures()
    errors: dict[tuple[str, str], list[str]] = defaultdict(list)
    error_infos: dict[str, ControlInfo] = {}
    for target in ctx.run.targets:
        block = scored.get(target.name) if isinstance(scored, dict) else None
        rows.append(
            {
                **_identity(target),
                "score": block.get("score") if isinstance(block, dict) else None,
                "counts": _counts(target.results),
                "file": files.get(target.name, ""),
            }
        )
        for result in target.results:
            if result.status is Status.ERROR:
                info = ctx.control(target, result)
                key = f"{info.benchmark}/{info.id}"
                error_infos[key] = info
                errors[(key, result.reason or "")].append(target.name)
    audited = max(sum(t.reachable for t in ctx.run.targets), 1)

    def rank(row: dict[str, Any]) -> tuple[Any, ...]:
        score = row["score"] if isinstance(row["score"], (int, float)) else 101.0
        return (score, -row["counts"]["FAIL"], -row["counts"]["ERROR"], row["name"])

    reachable = sorted((r for r in rows if r["reachable"]), key=rank)
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in reachable + [r for r in rows if not r["reachable"]]:
        by_group[row["groups"][0] if row["groups"] else ""].append(row)
    controls = []
    for key in failing:  # the most widespread first
        info, names = infos[key], sorted(failing[key])
        controls.append(
            {
                "key": key,
                "anchor": _anchor("fc", key),
                "control_id": info.id,
                "benchmark": info.benchmark,
                "title": ctx.tx(info.title),
                "level": info.level,
                "rationale": ctx.tx(info.rationale),
                "remediation": ctx.tx(info.remediation),
                "snippet": info.snippet,
                "target_count": len(names),
                "target_share": _rate(len(names), audited),
                "names": names[:FLEET_NAMES],
                "more": max(len(names) - FLEET_NAMES, 0),
            }
        )
    error_rows = [
        {
            "control_id": error_infos[key].id,
            "title": ctx.tx(error_infos[key].title),
            "reason": reason,
            "target_count": len(names),
            "names": sorted(names)[:12],
            "more": max(len(names) - 12, 0),
        }
        for (key, reason), names in sorted(
            errors.items(), key=lambda kv: (-len(kv[1]), natural_key(error_infos[kv[0][0]].id))
        )
    ]
    return {
        "worst": reachable[:WORST_TARGETS],
        "groups": [
            {"name": name, "anchor": _anchor("fg", name), "targets": by_group[name]}
            for name in sorted(by_group, key=lambda g: (g == "", g))
        ],
        "controls": controls,
        "errors": error_rows[:FLEET_ERROR_ROWS],
        "errors_more": max(len(error_rows) - FLEET_ERROR_ROWS, 0),
        "split": bool(files),
    }


def _anchor(*parts: str) -> str:
    # Ids for links inside the document: derived from a hash so hostile names stay inert.
    return "x" + hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:12]


def _target(ctx: _Ctx, target: TargetResult) -> dict[str, Any]:
    results = sorted(target.results, key=lambda r: natural_key(r.control_id))
    counts = _counts(results)
    full = (
        []
        if not target.reachable
        else [
            _finding(ctx, target, r)
            for status in FULL_STATUSES
            for r in results
            if r.status.value == status
        ]
    )
    compact = (
        {
            status: [
                {
                    "control_id": r.control_id,
                    "title": ctx.tx(ctx.control(target, r).title),
                    "reason": r.reason,
                    "waiver": _waiver_view(r.waiver),
                }
                for r in results
                if r.status.value == status
            ]
            for status in COMPACT_ORDER
        }
        if target.reachable
        else {s: [] for s in COMPACT_ORDER}
    )
    scored = (
        ctx.run.summary.get("targets", {}).get(target.name, {})
        if isinstance(ctx.run.summary, dict)
        else {}
    )
    return {
        **_identity(target),
        "anchor": _anchor(target.name),
        "benchmark": target.benchmark,
        "duration_s": target.duration_s,
        "remote_calls": target.remote_calls,
        "started_at": target.started_at or "",
        "counts": counts,
        "score": scored.get("score") if isinstance(scored, dict) else None,
        "score_without_waivers": scored.get("score_without_waivers", scored.get("score"))
        if isinstance(scored, dict)
        else None,
        "findings": full,
        "compact": compact,
        "how": _how_read(target),
    }


def _identity(target: TargetResult) -> dict[str, Any]:
    """What every view of a target starts with: who it is and whether it was reached."""
    return {
        "name": target.name,
        "kind": target.kind,
        "address": target.address or "",
        "groups": list(target.groups),
        "reachable": target.reachable,
        "error": target.error or "",
    }


def _how_read(target: TargetResult) -> str:
    """How a target was read and judged: how its kind was decided, the layout or variant
    of a Kubernetes node (K3s, RKE2, EKS/GKE/AKS workers), an engine reached over its API
    only, and the benchmarks chosen."""
    summary = target.facts_summary if isinstance(target.facts_summary, dict) else {}
    parts = [target.kind_source or ""]
    if summary.get("distribution_how"):
        parts.append(str(summary["distribution_how"]))
    if target.kind == "docker-api":
        parts.append(
            f"engine API only ({summary.get('reached_over') or '?'}): host files and "
            "processes out of reach"
        )
    if target.selection:
        parts.append(target.selection)
    return "; ".join(p for p in parts if p)


TARGET_RECORDS = 3  # per item in the documents; the workbook has them all


def _frameworks(ctx: _Ctx, *, linked: bool = True) -> list[dict[str, Any]]:
    """One chapter per framework of the run: its items in the assessor's terms, each
    with its verdict, result record and the controls behind it (cisaudit/rollup.py).
    ``linked``: the findings are printed in this document, so records link to them."""
    views = []
    for framework_id, framework in ctx.run.frameworks.items():
        verdicts = framework.get("verdicts", {})
        items: list[dict[str, Any]] = []
        uncovered: list[dict[str, Any]] = []
        for item in framework.get("items", []):
            verdict = verdicts.get(item["id"], {})
            row = _framework_item(ctx, framework_id, item, verdict, linked=linked)
            (uncovered if item.get("coverage") == "none" else items).append(row)
        fleet = framework.get("summary", {}).get("fleet", {})
        views.append(
            {
                "id": framework_id,
                "anchor": _anchor("fw", framework_id),
                "name": ctx.tx(framework.get("name")),
                "standard": ctx.tx(framework.get("standard")),
                "description": ctx.tx(framework.get("description")),
                "vocabulary": framework.get("vocabulary", "generic"),
                "params": [
                    {"check": slug, "values": ", ".join(f"{k}={v}" for k, v in values.items())}
                    for slug, values in (framework.get("params") or {}).items()
                ],
                "summary": {
                    "score": fleet.get("score"),
                    "score_without_waivers": fleet.get("score_without_waivers"),
                    "counts": [
                        {
                            "verdict": v,
                            "label": ctx.tx(rollup.LABELS[v]),
                            "count": (fleet.get("counts") or {}).get(v, 0),
                            "count_without_waivers": (
                                fleet.get("counts_without_waivers") or {}
                            ).get(v, 0),
                        }
                        for v in rollup.VERDICTS
                    ],
                },
                "rows": items,  # (not "items": templates would find dict.items)
                "not_covered": uncovered,
            }
        )
    return views


def _framework_item(
    ctx: _Ctx,
    framework_id: str,
    item: dict[str, Any],
    verdict: dict[str, Any],
    *,
    linked: bool = True,
) -> dict[str, Any]:
    def control_row(key: str) -> dict[str, Any]:
        info = ctx.run.controls.get(key)
        pack, _, cid = key.partition("/")
        return {
            "key": key,
            "control_id": cid,
            "benchmark": pack,
            "title": ctx.tx(info.title) if info else {lang: cid for lang in ctx.langs},
        }

    judged = [k for k in item.get("controls", []) if k in ctx.run.controls]
    supporting = [k for k in item.get("supporting", []) if k in ctx.run.controls]
    by_name = ctx.by_name()
    grouped: dict[str, list[str]] = defaultdict(list)
    failing: dict[str, list[str]] = defaultdict(list)
    records: list[dict[str, Any]] = []
    for name, (with_w, _without) in (verdict.get("targets") or {}).items():
        grouped[with_w].append(name)
        target = by_name[name]
        results = ctx.results_for(target, framework_id)
        for key in judged:
            result = results.get(key)
            if result is not None and result.status is Status.FAIL:
                failing[key].append(name)
        # Full result records only for the targets that fail the item, a few per item;
        # the workbook (--format xlsx) has the record of every item on every target.
        if with_w in (rollup.NON_COMPLIANT, rollup.ERROR) and len(records) < TARGET_RECORDS:
            detail = rollup.target_detail(ctx.run, framework_id, item, target)
            records.append(
                {
                    "name": name,
                    "verdict": with_w,
                    "verdict_label": ctx.tx(rollup.LABELS[with_w]),
                    "record": ctx.tx(detail["record"]),
                    "links": [
                        {
                            "control_id": c["id"],
                            "status": c["status"],
                            # findings are printed in full for FAIL and ERROR as judged
                            # for the benchmark; a framework's re-judged verdict has none
                            "anchor": _anchor(name, c["id"])
                            if linked
                            and target.reachable
                            and c["status"] in FULL_STATUSES
                            and not c["framework_params"]
                            else "",
                            "evidence": [
                                {"section": e["section"], "sha256": e["sha256"]}
                                for e in c["evidence"]
                            ],
                        }
                        for c in detail["controls"]
                        if c["role"] == "direct" and c["status"] != "NOT_APPLICABLE"
                    ],
                }
            )
    targets = [
        {
            "verdict": v,
            "label": ctx.tx(rollup.LABELS[v]),
            "names": grouped[v][:12],
            "more": max(len(grouped[v]) - 12, 0),
        }
        for v in rollup.VERDICTS
        if grouped.get(v)
    ]
    verdict_name = verdict.get("verdict", rollup.NOT_COVERED)
    return {
        "id": item["id"],
        "anchor": _anchor("fwi", framework_id, item["id"]),
        "clause": item.get("clause", ""),
        "test_unit": item.get("test_unit", ""),
        "layer": ctx.tx(item.get("layer")) if item.get("layer") else None,
        "control_point": ctx.tx(item.get("control_point")) if item.get("control_point") else None,
        "group": item.get("group", ""),
        "title": ctx.tx(item.get("title")),
        "coverage": item.get("coverage", "none"),
        "note": ctx.tx(item.get("note")) if item.get("note") else None,
        "verdict": verdict_name,
        "verdict_label": ctx.tx(rollup.LABELS[verdict_name]),
        "verdict_without_waivers": verdict.get("verdict_without_waivers", verdict_name),
        "verdict_without_waivers_label": ctx.tx(
            rollup.LABELS[verdict.get("verdict_without_waivers", verdict_name)]
        ),
        "record": ctx.tx(verdict.get("record")) if verdict.get("record") else None,
        "controls": [
            {
                **control_row(k),
                "failing": failing.get(k, [])[:8],
                "failing_more": max(len(failing.get(k, [])) - 8, 0),
            }
            for k in judged
        ],
        "supporting": [control_row(k) for k in supporting],
        "targets": targets,
        "records": records,
    }


CHANGE_ROWS = 100  # rows of each kind in the documents' "changes since" chapter


def _changes(ctx: _Ctx, history: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The changes since the previous stored run of the same scope, and the trend."""
    if not history:
        return None
    drift = history.get("drift") or {}

    def rows(key: str) -> list[dict[str, Any]]:
        found = []
        for row in (drift.get(key) or [])[:CHANGE_ROWS]:
            info = ctx.run.controls.get(str(row.get("control", "")))
            found.append(
                {
                    **{k: str(v) for k, v in row.items()},
                    "control_id": str(row.get("control", "")).split("/", 1)[-1],
                    "title": ctx.tx(info.title) if info else {lang: "" for lang in ctx.langs},
                }
            )
        return found

    return {
        "since": history.get("since", ""),
        "previous_run": history.get("previous_run", ""),
        "counts": dict(drift.get("counts") or {}),
        "notes": list(drift.get("notes") or []),
        "new_failures": rows("new_failures"),
        "fixed": rows("fixed"),
        "changed": rows("changed"),
        "more": {
            k: max(len(drift.get(k) or []) - CHANGE_ROWS, 0)
            for k in ("new_failures", "fixed", "changed")
        },
        "targets_added": list(drift.get("targets_added") or []),
        "targets_removed": list(drift.get("targets_removed") or []),
        "controls_added": list(drift.get("controls_added") or []),
        "controls_removed": list(drift.get("controls_removed") or []),
        "trend": charts.score_line(history.get("trend") or []),
    }


def _waivers(ctx: _Ctx) -> dict[str, Any] | None:
    """The waiver register: every waiver of the file applied, and what it covered."""
    register = ctx.run.waivers
    if not register:
        return None
    entries = []
    for waiver in register.get("waivers", []):
        covered = waiver.get("covered") or []
        entries.append(
            {
                **{k: waiver.get(k) for k in ("id", "reason", "approved_by", "ticket", "expires")},
                "approved_on": waiver.get("approved_on") or "",
                "controls": ", ".join(waiver.get("controls") or []),
                "targets": ", ".join(waiver.get("targets") or []),
                "objects": ", ".join(waiver.get("objects") or []),
                "state": waiver.get("state"),
                "days_left": waiver.get("days_left"),
                "expiring_soon": bool(waiver.get("expiring_soon")),
                "covered_count": len(covered),
                "covered": [
                    {
                        "target": c.get("target", ""),
                        "control": c.get("control", ""),
                        "status": c.get("status", ""),
                        "objects": ", ".join(c.get("objects") or []),
                    }
                    for c in covered[:40]
                ],
                "covered_more": max(len(covered) - 40, 0),
            }
        )
    return {
        "file": register.get("file", ""),
        "sha256": register.get("sha256", ""),
        "as_of": register.get("as_of", ""),
        "max_validity_days": register.get("max_validity_days"),
        "entries": entries,
        "expired": list(register.get("expired") or []),
        "unused": list(register.get("unused") or []),
    }


def _manual(ctx: _Ctx) -> list[dict[str, Any]]:
    targets, infos = ctx.with_status(Status.MANUAL)
    return [
        {
            "key": key,
            "control_id": infos[key].id,
            "title": ctx.tx(infos[key].title),
            "audit": ctx.tx(infos[key].audit),
            "target_count": len(targets[key]),
            "targets": targets[key][:8],
            "targets_more": max(len(targets[key]) - 8, 0),
        }
        for key in sorted(targets, key=lambda k: (infos[k].benchmark, natural_key(infos[k].id)))
    ]


def excerpt(text: str) -> tuple[str, bool]:
    """The first lines of a raw output, and whether anything was cut."""
    lines = text.splitlines()
    cut = "\n".join(lines[:EXCERPT_LINES])
    if len(cut) > EXCERPT_CHARS:
        cut = cut[:EXCERPT_CHARS]
    return cut, cut != text.rstrip("\n")


def _evidence(ctx: _Ctx) -> list[dict[str, Any]]:
    documents = ctx.evidence.get("targets", {}) if ctx.evidence else {}
    annex = []
    for target in ctx.run.targets:
        used: dict[str, list[str]] = defaultdict(list)
        shown: set[str] = set()
        for result in sorted(target.results, key=lambda r: natural_key(r.control_id)):
            for key in result.evidence:
                used[key].append(result.control_id)
                if result.status.value in FULL_STATUSES:
                    shown.add(key)
        if not used:
            continue
        items = documents.get(target.name, {}).get("evidence", {})
        rows = []
        for key in sorted(used):
            item = items.get(key)
            if not isinstance(item, dict):
                rows.append({"key": key, "missing": True, "referenced_by": used[key]})
                continue
            output = str(item.get("output", ""))
            text, truncated = excerpt(output) if key in shown else ("", False)
            actual = text_sha256(output)
            rows.append(
                {
                    "key": key,
                    "missing": False,
                    "command": str(item.get("command", "")),
                    "rc": item.get("rc"),
                    "sha256": str(item.get("sha256") or actual),
                    "sha256_ok": not item.get("sha256") or item.get("sha256") == actual,
                    "size": len(output.encode("utf-8")),
                    "excerpt": text,
                    "truncated": truncated,
                    "referenced_by": used[key],
                }
            )
        annex.append({"target": target.name, "anchor": _anchor("ev", target.name), "entries": rows})
    return annex


def _meta(ctx: _Ctx, meta: ReportMeta, theme: Mapping[str, Any]) -> dict[str, Any]:
    groups = sorted({g for t in ctx.run.targets for g in t.groups})
    return {
        "org": meta.org or str(theme.get("org_name", "")),
        "client": meta.client,
        "assessor": meta.assessor,
        "generated_at": meta.generated_at,
        "run_id": ctx.run.run_id,
        "started_at": ctx.run.started_at,
        "finished_at": ctx.run.finished_at,
        "tool_version": ctx.run.tool_version,
        "benchmarks": [benchmark_info(b) for b in ctx.run.benchmarks],
        "scope": {
            "targets": [t.name for t in ctx.run.targets],
            "target_count": len(ctx.run.targets),
            "groups": groups,
        },
        "options": {str(k): format_value(v) for k, v in sorted(ctx.run.options.items())},
    }


def build_context(
    run: Run,
    *,
    lang: str = "en",
    theme: Mapping[str, Any],
    meta: ReportMeta,
    evidence: Mapping[str, Any] | None = None,
    attachments: Iterable[Attachment] = (),
    signature: SignatureInfo | None = None,
    evidence_modified: Iterable[str] = (),
    history: Mapping[str, Any] | None = None,
    layout: str = "full",
    files: Mapping[str, str] | None = None,
    evidence_pages: bool = True,
) -> dict[str, Any]:
    """The documented template context for ``run`` (see ``docs/reports.md``).

    ``layout`` "full" prints every target's findings and the evidence excerpts; "fleet"
    prints the fleet chapter instead (``_fleet``), so that the document grows by a table
    row per target. ``files`` names each target's own report (``--split-by``), and
    ``evidence_pages`` False leaves the raw outputs to the attached evidence file."""
    if lang not in LANG_CHOICES:
        raise ValueError(f"unknown report language {lang!r}; choose from {sorted(LANG_CHOICES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown report layout {layout!r}; choose from {list(LAYOUTS)}")
    full = layout == "full"
    langs = LANG_CHOICES[lang]
    ctx = _Ctx(run=run, langs=langs, colors=theme.get("colors", {}), evidence=evidence or {})
    failing = _failing_controls(ctx)
    return {
        "context_version": CONTEXT_VERSION,
        "lang": lang,
        "langs": list(langs),
        "labels": labels_for(langs),
        "statuses": STATUSES,
        "theme": dict(theme),
        "meta": _meta(ctx, meta, theme),
        "summary": _summary(ctx),
        "charts": _charts(ctx),
        "top_risks": failing[:TOP_RISKS],
        "failing_controls": failing,
        "layout": layout,
        "fleet": None if full else _fleet(ctx, files or {}),
        "files": dict(files or {}),
        "targets": [_target(ctx, t) for t in run.targets] if full else [],
        "manual": _manual(ctx),
        "frameworks": _frameworks(ctx, linked=full),
        "waivers": _waivers(ctx),
        "changes": _changes(ctx, history),
        "evidence": _evidence(ctx) if full and evidence_pages else [],
        "has_evidence": bool(evidence),
        # the evidence file's name, size, SHA-256 and whether it is attached (set by
        # ``render``), and the target or group of a --split-by detail report
        "evidence_file": None,
        "part": None,
        "evidence_pages": full and evidence_pages,
        # Sections of the evidence that no longer match their SHA-256 (evaluated on
        # request only): every report then opens with a warning naming them.
        "evidence_modified": list(evidence_modified or run.evidence_modified),
        "attachments": [
            {"name": a.name, "sha256": a.sha256, "size": len(a.data), "description": a.description}
            for a in attachments
        ],
        "signature": None
        if signature is None
        else {
            "signer": signature.signer,
            "cert_sha256": signature.cert_sha256,
            "tsa_url": signature.tsa_url,
        },
    }
