"""``cisaudit dashboard -o DIR``: a static site built from the store.

It opens from ``file://`` with no server and no network: ``index.html``, ``app.js`` and
``style.css``, with the data as JavaScript files (``data/index.js``, one
``data/run-<id>.js`` per run, loaded when needed), because browsers refuse to read
JSON files from ``file://``. The page builds everything with DOM text nodes, never
``innerHTML``, so host, container and evidence strings stay text.

What it shows: the fleet score over time (with and without waivers), a heat map of
groups × benchmark sections for a chosen run, each target's history, a drill-down from
any heat-map cell to the control results and the evidence behind them, and the diff of
any two runs (the rules of ``cisaudit diff``).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from cisaudit.model import Run, Status
from cisaudit.store import Store, digest_of

STATIC = Path(__file__).with_name("static")
REASON_CHARS = 300
EXCERPT_CHARS = 1500
UNGROUPED = "(no group)"


def build(
    store: Store, outdir: Path, *, scope: str | None = None, runs: int = 30
) -> dict[str, Any]:
    """Write the site for the newest ``runs`` runs (of ``scope``); return figures."""
    rows = list(reversed(store.runs(scope=scope, limit=runs)))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "data").mkdir(exist_ok=True)
    for name in ("index.html", "app.js", "style.css"):
        shutil.copyfile(STATIC / name, outdir / name)
    points = {p["run"]: p for p in store.trend(scope=scope)}
    index: dict[str, Any] = {"runs": [], "targets": defaultdict(dict), "groups": defaultdict(dict)}
    written = 0
    for row in rows:
        run = store.load(row.id)
        _meta, evidence = store.evidence(row.id)
        data = _run_data(run, {e.name: e for e in evidence})
        path = outdir / "data" / f"run-{row.id}.js"
        path.write_text(_js("cisauditRun", data), encoding="utf-8")
        written += path.stat().st_size
        index["runs"].append(
            {
                "id": row.id,
                "started_at": row.started_at,
                "scope": row.scope,
                "kind": row.kind,
                "score": row.score,
                "score_without_waivers": row.score_without_waivers,
                "exit_code": row.exit_code,
                "targets": row.target_count,
                "interrupted": row.interrupted,
                "counts": row.counts,
            }
        )
        for name, values in (points.get(row.id, {}).get("series") or {}).items():
            bucket = index["groups"] if name.startswith("group:") else index["targets"]
            bucket[name.removeprefix("group:")][row.id] = values[0]
    index["targets"] = dict(index["targets"])
    index["groups"] = dict(index["groups"])
    (outdir / "data" / "index.js").write_text(_js("cisauditIndex", index), encoding="utf-8")
    return {"runs": len(rows), "bytes": written}


def _js(callback: str, data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # A data file is a script: keep it one statement whatever the strings hold.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.{callback}({text});\n"


def _run_data(run: Run, evidence: dict[str, Any]) -> dict[str, Any]:
    sections: dict[str, str] = {}
    controls: dict[str, Any] = {}
    for key, info in run.controls.items():
        section = f"{info.benchmark} {info.section.split('.')[0]}"
        title = run.sections.get(info.benchmark, {}).get(info.section.split(".")[0]) or {}
        sections[section] = title.get("en") or section
        controls[key] = {
            "id": info.id,
            "section": section,
            "title": {"en": info.title.get("en", ""), "zh": info.title.get("zh", "")},
        }
    targets = []
    for target in run.targets:
        shown: set[str] = set()
        results = []
        for result in target.results:
            key = target.control_key(result)
            if result.status in (Status.FAIL, Status.ERROR):
                shown.update(result.evidence)
            results.append(
                [
                    key,
                    result.status.value,
                    (result.reason or "")[:REASON_CHARS],
                    list(result.evidence),
                    [f"{o.kind}:{o.name}" for o in result.offenders][:50],
                ]
            )
        item = evidence.get(target.name)
        sections_of: dict[str, Any] = {}
        if item is not None:
            for name, sec in item.sections.items():
                sections_of[name] = {
                    "sha256": sec.sha256,
                    "command": sec.command[:500],
                    "rc": sec.rc,
                    "excerpt": sec.output[:EXCERPT_CHARS] if name in shown else "",
                    "size": len(sec.output),
                }
        block = run.summary.get("targets", {}).get(target.name, {})
        targets.append(
            {
                "name": target.name,
                "kind": target.kind,
                "groups": list(target.groups) or [UNGROUPED],
                "reachable": target.reachable,
                "error": target.error or "",
                "score": block.get("score"),
                "score_without_waivers": block.get("score_without_waivers"),
                "results": results,
                "evidence": sections_of,
                "digest": digest_of(target),
            }
        )
    return {
        "id": run.run_id,
        "started_at": run.started_at,
        "scope": run.options.get("scope", ""),
        "score": run.summary.get("fleet", {}).get("score"),
        "sections": sections,
        "controls": controls,
        "targets": targets,
    }
