"""Drift between two runs: what got worse, what was fixed, what changed otherwise.

Pure: it compares two runs' digests (``cisaudit.store.digest_of``: per target and
control, the status, the status without waivers, the failing objects and the waived
ones). Results are joined on (target, pack, control, object), where an object is known
by what survives its re-creation: a container by its name, an image by repository and
tag, a Kubernetes object by namespace/kind/name, a file by its path. A container
re-created under the same name is the same object.

* **new failure**: failing in B and not in A (a control newly failing, or a new object
  failing a control that already failed);
* **fixed**: failing in A, and in B the control passes (or no longer applies) or the
  object no longer fails it;
* **still failing**: failing in both;
* **changed**: any other change of status (PASS → ERROR, FAIL → WAIVED, FAIL → ERROR:
  "could not tell" is never "fixed");
* targets and controls added or removed (a benchmark upgrade changes the controls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAIL = "FAIL"
GOOD = ("PASS", "NOT_APPLICABLE")
WHOLE = ""  # a control that fails as a whole (no per-object list)


@dataclass
class Drift:
    a: dict[str, Any]
    b: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    new_failures: list[dict[str, str]] = field(default_factory=list)
    fixed: list[dict[str, str]] = field(default_factory=list)
    still_failing: list[dict[str, str]] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    targets_added: list[str] = field(default_factory=list)
    targets_removed: list[str] = field(default_factory=list)
    controls_added: list[str] = field(default_factory=list)
    controls_removed: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "new_failures": len(self.new_failures),
            "fixed": len(self.fixed),
            "still_failing": len(self.still_failing),
            "changed": len(self.changed),
            "targets_added": len(self.targets_added),
            "targets_removed": len(self.targets_removed),
            "controls_added": len(self.controls_added),
            "controls_removed": len(self.controls_removed),
        }

    @property
    def drifted(self) -> bool:
        counts = self.counts
        return any(v for k, v in counts.items() if k != "still_failing")

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "notes": self.notes,
            "counts": self.counts,
            "new_failures": self.new_failures,
            "fixed": self.fixed,
            "still_failing": self.still_failing,
            "changed": self.changed,
            "targets_added": self.targets_added,
            "targets_removed": self.targets_removed,
            "controls_added": self.controls_added,
            "controls_removed": self.controls_removed,
        }


def _failing(entry: list[Any] | None) -> set[str]:
    """The objects failing a control (WHOLE when it fails without a list)."""
    if not entry or entry[0] != FAIL:
        return set()
    return set(entry[2]) or {WHOLE}


def compare(
    a: dict[str, Any],
    b: dict[str, Any],
    digests_a: dict[str, dict[str, Any]],
    digests_b: dict[str, dict[str, Any]],
    controls_a: set[str],
    controls_b: set[str],
) -> Drift:
    """Compare run A (the baseline: ``a`` is its description) with run B."""
    drift = Drift(a=a, b=b)
    if a.get("scope") != b.get("scope"):
        drift.notes.append(
            f"the runs are of different scopes ({a.get('scope')!r} and {b.get('scope')!r}): "
            "only the targets both audited are compared"
        )
    if sorted(a.get("benchmarks") or []) != sorted(b.get("benchmarks") or []):
        drift.notes.append(
            f"the benchmarks differ ({', '.join(a.get('benchmarks') or [])} → "
            f"{', '.join(b.get('benchmarks') or [])}): controls are joined by pack and id, so "
            "those of the other version count as added or removed"
        )
    drift.targets_added = [t for t in digests_b if t not in digests_a]
    drift.targets_removed = [t for t in digests_a if t not in digests_b]
    drift.controls_added = sorted(controls_b - controls_a)
    drift.controls_removed = sorted(controls_a - controls_b)
    for target, entry_b in digests_b.items():
        entry_a = digests_a.get(target)
        if entry_a is None:
            continue
        ctl_a, ctl_b = entry_a["controls"], entry_b["controls"]
        for control in sorted(set(ctl_a) | set(ctl_b)):
            before, after = ctl_a.get(control), ctl_b.get(control)
            if before is None or after is None:
                continue  # the control was not run on one side: counted above
            _compare_control(drift, target, control, before, after)
    return drift


def _compare_control(
    drift: Drift, target: str, control: str, before: list[Any], after: list[Any]
) -> None:
    failed, failing = _failing(before), _failing(after)
    status_a, status_b = before[0], after[0]
    waived_b = set(after[3]) if len(after) > 3 else set()

    def row(obj: str, **extra: str) -> dict[str, str]:
        return {"target": target, "control": control, "object": obj, **extra}

    if status_b == FAIL:
        for obj in sorted(failing - failed):
            drift.new_failures.append(row(obj, before=status_a))
        for obj in sorted(failing & failed):
            drift.still_failing.append(row(obj))
        if status_a == FAIL:
            for obj in sorted(failed - failing):
                if obj in waived_b:
                    drift.changed.append(row(obj, before=FAIL, after="WAIVED"))
                elif obj == WHOLE or failing == {WHOLE}:
                    continue  # the same failure, now told per object (or the other way)
                else:
                    drift.fixed.append(row(obj, after="PASS"))
        return
    if status_a == FAIL and status_b in GOOD:
        for obj in sorted(failed):
            drift.fixed.append(row(obj, after=status_b))
        return
    if status_a != status_b:
        drift.changed.append(row(WHOLE, before=status_a, after=status_b))


def describe(row: Any) -> dict[str, Any]:
    """How a run is named in a diff: id, when, scope, benchmarks."""
    return {
        "run": row.id,
        "kind": row.kind,
        "started_at": row.started_at,
        "scope": row.scope,
        "benchmarks": list(row.benchmarks),
        "targets": row.target_count,
        "interrupted": row.interrupted,
    }
