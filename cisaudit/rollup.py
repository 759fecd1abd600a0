"""Framework verdicts: control results rolled up into 等保, PCI DSS, ISO 27001 and CIS
Controls items, in the assessor's vocabulary.

Pure functions over a :class:`~cisaudit.model.Run`. The run carries each framework's
items (``run.frameworks[id]["items"]``, copied from ``checks/mappings``), so reports can
roll the verdicts up again (after waivers, or for a subset of targets) without the
catalog.

The rule, per item and target (documented in docs/frameworks.md):

* coverage ``none``: **not covered** by automated checks; never judged.
* none of the item's direct controls ran on the target: **not assessed** there.
* every direct result NOT_APPLICABLE: **不适用** (not applicable).
* any FAIL: **部分符合** (partly) when some other direct control passed or was waived,
  else **不符合** (non-compliant).
* else any ERROR: **could not tell**; else any MANUAL: **needs review**.
* every result PASS: **符合** (compliant) when coverage is ``full``; **部分符合** when it
  is ``partial`` (the technical part is met; interviews or documents must do the rest).
* any WAIVED (and no FAIL): **部分符合**: an accepted risk is not compliance.

Supporting controls are shown beside the item and never decide it. Each verdict is
computed twice, with waivers and without them (a waived FAIL counted as a FAIL).

The fleet verdict of an item combines the targets where it was judged: all
non-compliant gives 不符合; any non-compliant or partial gives 部分符合 when something
else complied, else 不符合; then could not tell, needs review, and 符合 when all comply.
Item score: 符合 = 1, 部分符合 = 0.5, 不符合 = 0, averaged over judged items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from cisaudit.model import Result, Run, Status, TargetResult
from cisaudit.waivers import status_without_waivers

COMPLIANT = "compliant"
PARTIAL = "partial"
NON_COMPLIANT = "non_compliant"
NOT_APPLICABLE = "not_applicable"
ERROR = "error"
MANUAL = "manual"
NOT_ASSESSED = "not_assessed"
NOT_COVERED = "not_covered"
VERDICTS = (
    COMPLIANT,
    PARTIAL,
    NON_COMPLIANT,
    NOT_APPLICABLE,
    ERROR,
    MANUAL,
    NOT_ASSESSED,
    NOT_COVERED,
)
JUDGED = (COMPLIANT, PARTIAL, NON_COMPLIANT)
WEIGHT = {COMPLIANT: 1.0, PARTIAL: 0.5, NON_COMPLIANT: 0.0}

LABELS: dict[str, dict[str, str]] = {
    COMPLIANT: {"zh": "符合", "en": "Compliant"},
    PARTIAL: {"zh": "部分符合", "en": "Partly compliant"},
    NON_COMPLIANT: {"zh": "不符合", "en": "Non-compliant"},
    NOT_APPLICABLE: {"zh": "不适用", "en": "Not applicable"},
    ERROR: {"zh": "无法判定", "en": "Could not tell"},
    MANUAL: {"zh": "待人工核查", "en": "Needs review"},
    NOT_ASSESSED: {"zh": "未测评", "en": "Not assessed"},
    NOT_COVERED: {"zh": "未覆盖（需人工测评）", "en": "Not covered by automated checks"},
}
KIND_LABELS = {
    "docker-host": {"zh": "Docker 主机", "en": "Docker host"},
    "local": {"zh": "本机 Docker", "en": "local Docker host"},
    "docker-api": {"zh": "Docker 引擎（仅 API）", "en": "Docker engine (API only)"},
    "k8s-node": {"zh": "Kubernetes 节点", "en": "Kubernetes node"},
    "k8s-cluster": {"zh": "Kubernetes 集群", "en": "Kubernetes cluster"},
}
_REASON_CHARS = 160


def label(verdict: str, lang: str) -> str:
    return LABELS.get(verdict, {}).get(lang, verdict)


# -- the rule ---------------------------------------------------------------------------------


def judge(statuses: Iterable[Status], coverage: str) -> str:
    """The verdict of one item on one target from its direct controls' statuses."""
    if coverage == "none":
        return NOT_COVERED
    found = list(statuses)
    if not found:
        return NOT_ASSESSED
    decided = [s for s in found if s is not Status.NOT_APPLICABLE]
    if not decided:
        return NOT_APPLICABLE
    if Status.FAIL in decided:
        good = Status.PASS in decided or Status.WAIVED in decided
        return PARTIAL if good else NON_COMPLIANT
    if Status.ERROR in decided:
        return ERROR
    if Status.MANUAL in decided:
        return MANUAL
    if Status.WAIVED in decided:
        return PARTIAL
    return COMPLIANT if coverage == "full" else PARTIAL


def combine(verdicts: Iterable[str]) -> str:
    """The fleet verdict of one item from its verdicts on each target."""
    found = list(verdicts)
    if not found:
        return NOT_ASSESSED
    if found[0] == NOT_COVERED:
        return NOT_COVERED
    judged = [v for v in found if v not in (NOT_APPLICABLE, NOT_ASSESSED)]
    if not judged:
        return NOT_APPLICABLE if NOT_APPLICABLE in found else NOT_ASSESSED
    if NON_COMPLIANT in judged or PARTIAL in judged:
        something_good = COMPLIANT in judged or PARTIAL in judged
        return PARTIAL if something_good else NON_COMPLIANT
    if ERROR in judged:
        return ERROR
    if MANUAL in judged:
        return MANUAL
    return COMPLIANT


def score(verdicts: Iterable[str]) -> float | None:
    judged = [WEIGHT[v] for v in verdicts if v in WEIGHT]
    return round(100.0 * sum(judged) / len(judged), 1) if judged else None


# -- per target -------------------------------------------------------------------------------


def results_for(target: TargetResult, framework_id: str) -> dict[str, Result]:
    """The target's results by control key, with this framework's re-judged variants."""
    found = {target.control_key(r): r for r in target.results}
    for result in target.variants.get(framework_id, []):
        found[target.control_key(result)] = result
    return found


def applies(item: dict[str, Any], target: TargetResult) -> bool:
    """Whether an item is assessed on a target: the target is of a kind the item names,
    and one of the packs run on it maps a control to the item (an item evidenced only
    by Kubernetes controls says nothing about a Docker host)."""
    # an engine reached over its API is the same object as a Docker host reached over SSH
    kind = "docker-host" if target.kind == "docker-api" else target.kind
    if kind not in (item.get("objects") or [kind]):
        return False
    packs = set(target.packs) or {target.benchmark}
    keys = list(item.get("controls", [])) + list(item.get("supporting", []))
    return any(key.split("/", 1)[0] in packs for key in keys)


def item_on_target(
    item: dict[str, Any], target: TargetResult, results: dict[str, Result]
) -> tuple[str, str, list[Result]]:
    """(verdict with waivers, verdict without, the direct results) of one item."""
    direct = [results[k] for k in item.get("controls", []) if k in results]
    coverage = str(item.get("coverage", "none"))
    with_waivers = judge((r.status for r in direct), coverage)
    without = judge((status_without_waivers(r) for r in direct), coverage)
    return with_waivers, without, direct


# -- the whole run ---------------------------------------------------------------------------


def roll_up(run: Run) -> None:
    """(Re)compute every framework's verdicts and scores from the run's results."""
    for framework_id, framework in run.frameworks.items():
        framework.update(_framework_verdicts(run, framework_id, framework))
    run.summary["frameworks"] = {
        fid: {
            "score": fw["summary"]["fleet"]["score"],
            "score_without_waivers": fw["summary"]["fleet"]["score_without_waivers"],
            "counts": fw["summary"]["fleet"]["counts"],
        }
        for fid, fw in run.frameworks.items()
    }


# (with waivers, without) per item and target: the verdicts are a handful of words, so the
# pairs are a few dozen, each held once
_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}


def _framework_verdicts(run: Run, framework_id: str, framework: dict[str, Any]) -> dict[str, Any]:
    lookups = {t.name: results_for(t, framework_id) for t in run.targets}
    verdicts: dict[str, dict[str, Any]] = {}
    per_target: dict[str, list[tuple[str, str]]] = {t.name: [] for t in run.targets}
    fleet_pairs: list[tuple[str, str]] = []
    # whether an item applies depends only on a target's kind and packs, which a fleet
    # shares: decided once per item and shape, not once per item and target
    shapes = [(t, (t.kind, t.benchmark, tuple(t.packs))) for t in run.targets]
    one_of = {shape: target for target, shape in shapes}
    for item in framework.get("items", []):
        targets: dict[str, tuple[str, str]] = {}
        if item.get("coverage") == "none":
            shapes_in: set[Any] = set()
        else:
            shapes_in = {shape for shape, target in one_of.items() if applies(item, target)}
        for target, shape in shapes:
            if shape not in shapes_in:
                continue
            with_w, without, _ = item_on_target(item, target, lookups[target.name])
            # one shared pair per combination: a fleet has a few dozen, and 10,000 targets
            # times each framework's items would otherwise hold millions of small lists
            pair = _PAIRS.setdefault((with_w, without), (with_w, without))
            targets[target.name] = pair
            per_target[target.name].append(pair)
        if item.get("coverage") == "none":
            fleet, fleet_without = NOT_COVERED, NOT_COVERED
        else:
            fleet = combine(v[0] for v in targets.values())
            fleet_without = combine(v[1] for v in targets.values())
        fleet_pairs.append((fleet, fleet_without))
        counts = Counter(v[0] for v in targets.values())
        verdicts[str(item["id"])] = {
            "verdict": fleet,
            "verdict_without_waivers": fleet_without,
            "counts": dict(sorted(counts.items())),
            "record": fleet_record(item, fleet, counts, len(targets)),
            "targets": targets,
        }
    return {
        "verdicts": verdicts,
        "summary": {
            "fleet": _score_block(fleet_pairs),
            "targets": {name: _score_block(pairs) for name, pairs in per_target.items()},
        },
    }


def _score_block(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "counts": dict(sorted(Counter(p[0] for p in pairs).items())),
        "counts_without_waivers": dict(sorted(Counter(p[1] for p in pairs).items())),
        "score": score(p[0] for p in pairs),
        "score_without_waivers": score(p[1] for p in pairs),
    }


# -- result records (结果记录) -----------------------------------------------------------------


def fleet_record(
    item: dict[str, Any], verdict: str, counts: Counter[str], total: int
) -> dict[str, str]:
    if verdict == NOT_COVERED:
        note = item.get("note") or {}
        return {
            "zh": "本项不在自动化核查范围内，需通过访谈、文档审查或其他工具测评"
            + (f"：{note['zh']}" if note.get("zh") else "。"),
            "en": "Not covered by the automated checks; assess it by interview, document "
            "review or other tools" + (f": {note['en']}." if note.get("en") else "."),
        }
    if not total:
        return {
            "zh": "本次审计的测评对象都没有为本项提供证据的控制项（例如只审计了 Docker 主机，而本项由"
            "Kubernetes 控制项取证）。",
            "en": "None of the audited targets runs a control that evidences this item (for "
            "example, only Docker hosts were audited and the item is evidenced by Kubernetes "
            "controls).",
        }
    zh_parts = [f"{n} 个{label(v, 'zh')}" for v, n in sorted(counts.items()) if n]
    en_parts = [f"{n} {label(v, 'en').lower()}" for v, n in sorted(counts.items()) if n]
    return {
        "zh": f"共 {total} 个测评对象：" + "，".join(zh_parts) + "。",
        "en": f"{total} target(s) assessed: " + ", ".join(en_parts) + ".",
    }


def target_detail(
    run: Run, framework_id: str, item: dict[str, Any], target: TargetResult
) -> dict[str, Any]:
    """One item on one target, as a report or workbook row shows it: the verdicts, the
    result record (zh and en), and each control behind it with its status, the values
    it was judged against and the SHA-256 of its evidence."""
    results = results_for(target, framework_id)
    with_w, without, direct = item_on_target(item, target, results)
    variants = {target.control_key(r) for r in target.variants.get(framework_id, [])}
    controls = []
    for key in list(item.get("controls", [])) + list(item.get("supporting", [])):
        result = results.get(key)
        if result is None:
            continue
        controls.append(
            {
                "key": key,
                "id": result.control_id,
                "pack": target.pack_of(result),
                "role": "direct" if key in item.get("controls", []) else "supporting",
                "status": result.status.value,
                "status_without_waivers": status_without_waivers(result).value,
                "reason": result.reason,
                "params": result.params or {},
                "framework_params": key in variants,
                "waiver": (result.waiver or {}).get("ids") or [],
                "evidence": [
                    {"section": s, "sha256": target.evidence_sha256.get(s, "")}
                    for s in result.evidence
                ],
            }
        )
    return {
        "target": target.name,
        "kind": target.kind,
        "verdict": with_w,
        "verdict_without_waivers": without,
        "controls": controls,
        "record": target_record(item, target, with_w, controls),
    }


def target_record(
    item: dict[str, Any], target: TargetResult, verdict: str, controls: list[dict[str, Any]]
) -> dict[str, str]:
    """The 结果记录 of one item on one target: what was observed, in both languages."""
    kind = KIND_LABELS.get(target.kind, {"zh": target.kind, "en": target.kind})
    direct = [c for c in controls if c["role"] == "direct"]
    if not direct:
        return {
            "zh": f"在 {target.name}（{kind['zh']}）上未运行本项的任何控制项。",
            "en": f"None of this item's controls ran on {target.name} ({kind['en']}).",
        }
    by_status: dict[str, list[str]] = {}
    for control in direct:
        by_status.setdefault(control["status"], []).append(control["id"])
    names = {
        "PASS": ("通过", "pass"),
        "FAIL": ("不通过", "fail"),
        "WAIVED": ("已豁免", "waived"),
        "MANUAL": ("需人工确认", "need review"),
        "ERROR": ("无法判定", "could not be judged"),
        "NOT_APPLICABLE": ("不适用", "not applicable"),
    }
    zh_parts, en_parts = [], []
    for status in ("PASS", "FAIL", "WAIVED", "MANUAL", "ERROR", "NOT_APPLICABLE"):
        ids = by_status.get(status)
        if not ids:
            continue
        listed = ", ".join(ids)
        zh_parts.append(f"{len(ids)} 项{names[status][0]}（{listed}）")
        en_parts.append(f"{len(ids)} {names[status][1]} ({listed})")
    zh = (
        f"经核查 {target.name}（{kind['zh']}）的 {len(direct)} 项相关控制："
        + "，".join(zh_parts)
        + "。"
    )
    en = f"Checked {len(direct)} related control(s) on {target.name} ({kind['en']}): " + (
        "; ".join(en_parts) + "."
    )
    problems = [c for c in direct if c["status"] in ("FAIL", "ERROR")][:3]
    for control in problems:
        reason = _short(control["reason"])
        zh += f" {control['id']}：{reason}。"
        en += f" {control['id']}: {reason}."
    waivers = sorted({w for c in direct for w in c["waiver"]})
    if waivers:
        zh += f" 依据豁免单 {', '.join(waivers)} 接受风险，不计为符合。"
        en += f" Risk accepted under waiver {', '.join(waivers)}; not counted as compliant."
    judged_with = [c for c in direct if c["framework_params"]]
    for control in judged_with:
        values = ", ".join(f"{k}={v}" for k, v in sorted(control["params"].items()))
        zh += f" {control['id']} 按本框架的要求判定（{values}）。"
        en += f" {control['id']} was judged against this framework's value ({values})."
    if item.get("coverage") == "partial" and verdict in (COMPLIANT, PARTIAL):
        zh += " 本项还需通过访谈或文档核查其余要求。"
        en += " The rest of this item needs interviews or documents."
    return {"zh": zh, "en": en}


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def rescore(run: Run) -> None:
    """Score the run and roll its frameworks up again (after waivers, or for a subset of
    its targets)."""
    from cisaudit.score import Report

    run.summary = Report(run).summary()
    roll_up(run)
