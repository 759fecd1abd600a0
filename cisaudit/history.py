"""History: storing runs, and what the store tells about them (drift, trends).

The library side of ``cisaudit history``, ``diff``, ``trend``, ``prune``, ``scan
--baseline`` and the reports' "changes since" chapter. It puts the store and the pure
drift comparison together, as ``cisaudit.api`` does for the audit pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from cisaudit.drift import Drift, compare, describe
from cisaudit.model import Run
from cisaudit.store import Store, StoreError

TREND_POINTS = 30  # runs shown in a report's trend chart


def inventory_sha256(path: str | Path | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def scan_scope(inventory: str, limit: list[str], selection: dict[str, Any]) -> str:
    """The default scope of a scan: the inventory file, the --limit patterns and the
    control selection. Runs of one scope are compared with each other."""
    scope = str(Path(inventory).resolve())
    if limit:
        scope += f" [{','.join(sorted(limit))}]"
    chosen = {k: v for k, v in selection.items() if v not in (None, [], ())}
    if chosen:
        scope += " " + " ".join(f"{k}={v}" for k, v in sorted(chosen.items()))
    return scope


def parse_age(text: str) -> dt.timedelta:
    """``90d``, ``12w``, ``6m`` (30-day months), ``1y``, ``36h``."""
    match = re.fullmatch(r"\s*(\d+)\s*([hdwmy])\s*", text or "")
    if not match:
        raise ValueError(f"{text!r} is not an age: use 90d, 12w, 6m, 1y or 36h")
    n, unit = int(match[1]), match[2]
    days = {"h": 1 / 24, "d": 1, "w": 7, "m": 30, "y": 365}[unit]
    return dt.timedelta(days=n * days)


def since_iso(age: str) -> str:
    return (dt.datetime.now(dt.UTC) - parse_age(age)).isoformat(timespec="seconds")


def previous_run(store: Store, run: Run | str, scope: str) -> str | None:
    """The newest stored run of ``scope`` that started before ``run`` (None if none)."""
    if isinstance(run, str):
        run = store.load(run)
    for row in store.runs(scope=scope, limit=50):
        if row.id != run.run_id and row.started_at <= run.started_at:
            return row.id
    return None


def drift(store: Store, baseline: str, current: str) -> Drift:
    """What changed from run ``baseline`` to run ``current``."""
    a, b = store.row(baseline), store.row(current)
    return compare(
        describe(a),
        describe(b),
        store.digests(baseline),
        store.digests(current),
        set(store.controls(baseline)),
        set(store.controls(current)),
    )


def default_pair(store: Store, scope: str | None = None) -> tuple[str, str]:
    """The last two runs of the same scope (of ``scope``, or of the newest run)."""
    newest = store.runs(scope=scope, limit=1)
    if not newest:
        raise StoreError("the store holds no run yet" + (f" of scope {scope!r}" if scope else ""))
    b = newest[0]
    older = [r for r in store.runs(scope=b.scope, limit=2) if r.id != b.id]
    if not older:
        raise StoreError(f"only one run of scope {b.scope!r} is stored: nothing to compare")
    return older[0].id, b.id


def history_view(store: Store, run: Run, scope: str) -> dict[str, Any] | None:
    """What a report shows of the past: the changes since the previous run of the same
    scope, and the scores of the last runs (None when this is the first)."""
    previous = previous_run(store, run, scope)
    if previous is None:
        return None
    rows = store.runs(scope=scope, limit=TREND_POINTS)
    found = drift(store, previous, run.run_id)
    return {
        "since": store.row(previous).started_at,
        "previous_run": previous,
        "drift": found.to_dict(),
        "trend": [
            {
                "run": r.id,
                "started_at": r.started_at,
                "score": r.score,
                "score_without_waivers": r.score_without_waivers,
            }
            for r in reversed(rows)
            if r.started_at <= run.started_at
        ],
    }
