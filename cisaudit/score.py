"""Scoring: counts per status, target, section and fleet; owns the exit code.

Score = PASS / (PASS + FAIL) over automated verdicts, as a percentage. MANUAL,
NOT_APPLICABLE, WAIVED and ERROR do not move the score; ERROR is reported on its own
because "could not tell" is not "passed".

Every score is given twice: ``score`` with waivers (a waived result is out of the count,
the risk being accepted) and ``score_without_waivers`` (each waived result counted as
what it was judged: a waived FAIL is a FAIL), per target, group, section, level and
fleet, so that accepting a risk never looks like fixing it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from cisaudit.model import Result, Run, Status, TargetResult
from cisaudit.waivers import status_without_waivers

EXIT_OK = 0  # every applicable automated control passed
EXIT_FAIL = 1  # some control failed
EXIT_USAGE = 2  # usage or input error (raised by the CLI, never computed here)
EXIT_INCOMPLETE = 3  # some target (or some control on it) could not be audited
EXIT_CODES_HELP = (
    "Exit codes: 0 all applicable automated controls pass; 1 some fail; 2 usage or input "
    "error; 3 some targets or controls could not be audited (takes precedence over 1)."
)


def _score(counts: Counter[str]) -> float | None:
    decided = counts[Status.PASS.value] + counts[Status.FAIL.value]
    return round(100.0 * counts[Status.PASS.value] / decided, 1) if decided else None


def _block(
    counts: Counter[str], total: int, unwaived: Counter[str] | None = None
) -> dict[str, Any]:
    unwaived = counts if unwaived is None else unwaived
    return {
        "counts": {s.value: counts[s.value] for s in Status},
        "total": total,
        "score": _score(counts),
        "pass_rate": round(counts[Status.PASS.value] / total, 4) if total else None,
        "score_without_waivers": _score(unwaived),
        "counts_without_waivers": {s.value: unwaived[s.value] for s in Status},
    }


class _Tally:
    """Counts of a scope with waivers applied, and as judged before them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.unwaived: Counter[str] = Counter()

    def add(self, result: Result) -> None:
        self.counts[result.status.value] += 1
        self.unwaived[status_without_waivers(result).value] += 1

    def add_status(self, status: Status, unwaived: Status) -> None:
        self.counts[status.value] += 1
        self.unwaived[unwaived.value] += 1

    def update(self, other: _Tally) -> None:
        self.counts.update(other.counts)
        self.unwaived.update(other.unwaived)

    def block(self) -> dict[str, Any]:
        return _block(self.counts, sum(self.counts.values()), self.unwaived)


@dataclass
class Report:
    """Counts for one run; ``exit_code`` is derived, never stored separately."""

    run: Run

    @property
    def exit_code(self) -> int:
        if any(not t.reachable for t in self.run.targets) or self._count(Status.ERROR):
            return EXIT_INCOMPLETE
        if self._count(Status.FAIL):
            return EXIT_FAIL
        return EXIT_OK

    def _count(self, status: Status) -> int:
        return sum(1 for t in self.run.targets for r in t.results if r.status is status)

    def summary(self) -> dict[str, Any]:
        fleet = _Tally()
        targets: dict[str, Any] = {}
        groups: dict[str, _Tally] = {}
        sections: dict[str, dict[str, _Tally]] = {}
        levels: dict[str, _Tally] = {}
        automated = sum(1 for c in self.run.controls.values() if c.automated)
        for target in self.run.targets:
            tally = _Tally()
            for result in target.results:
                tally.add(result)
                info = self.run.controls.get(target.control_key(result))
                section = info.section.split(".")[0] if info else result.control_id.split(".")[0]
                sections.setdefault(target.pack_of(result), {}).setdefault(section, _Tally()).add(
                    result
                )
                if info:
                    levels.setdefault(f"L{info.level}", _Tally()).add(result)
            fleet.update(tally)
            for group in target.groups:
                groups.setdefault(group, _Tally()).update(tally)
            for group, part in namespace_groups(target).items():
                groups.setdefault(group, _Tally()).update(part)
            targets[target.name] = {
                **tally.block(),
                "reachable": target.reachable,
                "error": target.error,
                "benchmark": target.benchmark,
            }
        return {
            "fleet": {
                **fleet.block(),
                "targets": len(self.run.targets),
                "unreachable": [t.name for t in self.run.targets if not t.reachable],
                "automated_coverage": round(automated / len(self.run.controls), 4)
                if self.run.controls
                else None,
                "controls": len(self.run.controls),
                "automated_controls": automated,
            },
            "targets": targets,
            "groups": {g: t.block() for g, t in sorted(groups.items())},
            "sections": {
                b: {s: t.block() for s, t in secs.items()} for b, secs in sections.items()
            },
            "levels": {lvl: t.block() for lvl, t in sorted(levels.items())},
            "waived": fleet.counts[Status.WAIVED.value],
            "exit_code": self.exit_code,
        }


NAMESPACED_SECTION = "5"  # CIS Kubernetes "Policies": controls over namespaced objects


def namespace_groups(target: TargetResult) -> dict[str, _Tally]:
    """Groups of a Kubernetes cluster's namespaces (``ns:<cluster>/<namespace>``) and of
    their owner labels (``team:<value>``, also ``owner:``, ``project:``, ``tenant:``).

    Over the per-object controls of the policies section (5.x): a namespace fails such a
    control when one of its objects does, is waived when all its failing objects are,
    and passes it otherwise."""
    labels: dict[str, dict[str, str]] = dict(
        (target.facts_summary or {}).get("namespace_labels") or {}
    )
    if target.kind != "k8s-cluster" or not labels:
        return {}
    tallies: dict[str, _Tally] = {}
    for result in target.results:
        if not result.control_id.startswith(NAMESPACED_SECTION + "."):
            continue
        if result.status not in (Status.PASS, Status.FAIL, Status.WAIVED):
            continue
        checked = isinstance(result.observed, dict) and "checked" in result.observed
        if not checked and not result.offenders:
            continue
        failing = _namespaces_of(o.name for o in result.offenders)
        waived = _namespaces_of(
            e["offender"]["name"] for e in ((result.waiver or {}).get("waived_offenders") or [])
        )
        for namespace in labels:
            if namespace in failing:
                status = Status.FAIL
            elif namespace in waived:
                status = Status.WAIVED
            else:
                status = Status.PASS
            unwaived = Status.FAIL if namespace in failing | waived else Status.PASS
            tallies.setdefault(namespace, _Tally()).add_status(status, unwaived)
    groups: dict[str, _Tally] = {}
    for namespace, tally in tallies.items():
        groups.setdefault(f"ns:{target.name}/{namespace}", _Tally()).update(tally)
        for key, value in labels.get(namespace, {}).items():
            groups.setdefault(f"{key}:{value}", _Tally()).update(tally)
    return groups


def _namespaces_of(names: Any) -> set[str]:
    """Namespaces of object names: ``namespace/Kind/name`` (workloads, roles ...),
    ``ServiceAccount/namespace/name`` (RBAC subjects) and ``Namespace/x`` itself; users,
    groups and cluster-wide objects belong to no namespace."""
    found = set()
    for name in names:
        parts = str(name).split("/")
        if len(parts) == 2 and parts[0] == "Namespace":
            found.add(parts[1])
        elif len(parts) >= 3 and parts[0] == "ServiceAccount":
            found.add(parts[1])
        elif len(parts) >= 3 and parts[0] not in ("User", "Group") and parts[1][:1].isupper():
            found.add(parts[0])
    return found


def target_line(target: TargetResult) -> dict[str, int]:
    counts = Counter(r.status.value for r in target.results)
    return {s.value: counts[s.value] for s in Status}
