"""Scoring: counts per status, target, section and fleet; owns the exit code.

Score = PASS / (PASS + FAIL) over automated verdicts, as a percentage. MANUAL,
NOT_APPLICABLE, WAIVED and ERROR do not move the score; ERROR is reported on its own
because "could not tell" is not "passed".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from cisaudit.model import Run, Status, TargetResult

EXIT_OK = 0  # every applicable automated control passed
EXIT_FAIL = 1  # some control failed
EXIT_USAGE = 2  # usage or input error (raised by the CLI, never computed here)
EXIT_INCOMPLETE = 3  # some target (or some control on it) could not be audited
EXIT_CODES_HELP = (
    "Exit codes: 0 all applicable automated controls pass; 1 some fail; 2 usage or input "
    "error; 3 some targets or controls could not be audited (takes precedence over 1)."
)


def _block(counts: Counter[str], total: int) -> dict[str, Any]:
    decided = counts[Status.PASS.value] + counts[Status.FAIL.value]
    return {
        "counts": {s.value: counts[s.value] for s in Status},
        "total": total,
        "score": round(100.0 * counts[Status.PASS.value] / decided, 1) if decided else None,
        "pass_rate": round(counts[Status.PASS.value] / total, 4) if total else None,
    }


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
        fleet: Counter[str] = Counter()
        targets: dict[str, Any] = {}
        sections: dict[str, dict[str, Counter[str]]] = {}
        levels: dict[str, Counter[str]] = {}
        automated = sum(1 for c in self.run.controls.values() if c.automated)
        for target in self.run.targets:
            counts: Counter[str] = Counter(r.status.value for r in target.results)
            fleet.update(counts)
            targets[target.name] = {
                **_block(counts, len(target.results)),
                "reachable": target.reachable,
                "error": target.error,
                "benchmark": target.benchmark,
            }
            for result in target.results:
                info = self.run.controls.get(target.control_key(result))
                section = info.section.split(".")[0] if info else result.control_id.split(".")[0]
                sections.setdefault(target.pack_of(result), {}).setdefault(section, Counter())[
                    result.status.value
                ] += 1
                if info:
                    levels.setdefault(f"L{info.level}", Counter())[result.status.value] += 1
        total = sum(fleet.values())
        return {
            "fleet": {
                **_block(fleet, total),
                "targets": len(self.run.targets),
                "unreachable": [t.name for t in self.run.targets if not t.reachable],
                "automated_coverage": round(automated / len(self.run.controls), 4)
                if self.run.controls
                else None,
                "controls": len(self.run.controls),
                "automated_controls": automated,
            },
            "targets": targets,
            "sections": {
                b: {s: _block(c, sum(c.values())) for s, c in secs.items()}
                for b, secs in sections.items()
            },
            "levels": {lvl: _block(c, sum(c.values())) for lvl, c in sorted(levels.items())},
            "exit_code": self.exit_code,
        }


def target_line(target: TargetResult) -> dict[str, int]:
    counts = Counter(r.status.value for r in target.results)
    return {s.value: counts[s.value] for s in Status}
