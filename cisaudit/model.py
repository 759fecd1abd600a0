"""The result model: what an audit found, independent of how it is shown.

Everything here is plain data with a stable JSON form (``to_dict``/``from_dict``).
The JSON layout is documented in ``docs/results-schema.md`` and versioned by
``SCHEMA_VERSION``; renderers read only this model.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

SCHEMA_VERSION = "1.3"


class Status(str, enum.Enum):
    """Verdict of one control on one target. ``ERROR`` means "could not tell", never "failed"."""

    PASS = "PASS"
    FAIL = "FAIL"
    MANUAL = "MANUAL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    ERROR = "ERROR"
    WAIVED = "WAIVED"

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class Offender:
    """One object that breaks a control: a container, image, file, rule ..."""

    kind: str
    name: str
    observed: Any = None
    id: str | None = None


@dataclass(slots=True)
class Result:
    """The verdict of one control on one target, with what decided it."""

    control_id: str
    status: Status
    reason: str = ""
    observed: Any = None
    expected: Any = None
    offenders: list[Offender] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # keys into the target's evidence
    remediation: str = ""  # snippet specialised for this target, when there is one
    waiver: dict[str, Any] | None = None
    pack: str = ""  # the pack (benchmark) of this control; "" in results before schema 1.1
    params: dict[str, Any] | None = None  # parameter values the verdict was judged against

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict, which deep-copies every value: a fleet
        # has hundreds of thousands of results, and JSON needs no copy.
        return {
            "control_id": self.control_id,
            "status": self.status.value,
            "reason": self.reason,
            "observed": self.observed,
            "expected": self.expected,
            "offenders": [
                {"kind": o.kind, "name": o.name, "observed": o.observed, "id": o.id}
                for o in self.offenders
            ],
            "evidence": list(self.evidence),
            "remediation": self.remediation,
            "waiver": self.waiver,
            "pack": self.pack,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        data = dict(data)
        data["status"] = Status(data["status"])
        data["offenders"] = [Offender(**o) for o in data.get("offenders", [])]
        return cls(**data)


@dataclass
class TargetResult:
    """All verdicts for one target, plus whether the target could be reached at all."""

    name: str
    kind: str
    address: str | None = None
    groups: list[str] = field(default_factory=list)
    benchmark: str = ""
    reachable: bool = True
    error: str | None = None  # why the target could not be audited, when it could not
    started_at: str | None = None
    duration_s: float | None = None
    remote_calls: int | None = None
    facts_summary: dict[str, Any] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)  # every pack run on this target
    selection: str = ""  # why this benchmark was chosen (named, by version, or newest)
    # 1.3: how the kind and roles were decided (inventory, a group name, what the host runs)
    kind_source: str = "inventory"
    detected: list[str] = field(default_factory=list)  # what the probe found running
    # SHA-256 of each raw evidence section of this target (the keys of Result.evidence).
    evidence_sha256: dict[str, str] = field(default_factory=dict)
    # Controls judged again against a framework's own parameter values (audit-log
    # retention of 180 days for 等保, 365 for PCI DSS): framework id -> those results.
    variants: dict[str, list[Result]] = field(default_factory=dict)

    def pack_of(self, result: Result) -> str:
        return result.pack or self.benchmark

    def control_key(self, result: Result) -> str:
        """The key of ``result``'s control in ``Run.controls``: ``pack/control-id``."""
        return f"{self.pack_of(result)}/{result.control_id}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("results", "variants")
        }
        data["results"] = [r.to_dict() for r in self.results]
        data["variants"] = {f: [r.to_dict() for r in rs] for f, rs in self.variants.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetResult:
        data = dict(data)
        data["results"] = [Result.from_dict(r) for r in data.get("results", [])]
        data["variants"] = {
            str(f): [Result.from_dict(r) for r in rs]
            for f, rs in (data.get("variants") or {}).items()
        }
        return cls(**data)


@dataclass
class ControlInfo:
    """The catalog facts about a control that a report needs (titles, levels, remediation)."""

    id: str
    benchmark: str
    section: str
    title: dict[str, str]
    level: int
    profiles: list[str]
    automated: bool
    cis_assessment: str
    description: dict[str, str] = field(default_factory=dict)
    rationale: dict[str, str] = field(default_factory=dict)
    remediation: dict[str, str] = field(default_factory=dict)
    snippet: str = ""
    snippet_kind: str = ""
    audit: dict[str, str] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    mappings: dict[str, list[str]] = field(default_factory=dict)
    check: str = ""  # the slug of the check (checks/library) that decides it


@dataclass
class Run:
    """One audit run: targets, their results, the controls used and the summary."""

    run_id: str
    tool_version: str
    started_at: str
    finished_at: str
    benchmarks: list[str]
    options: dict[str, Any]
    targets: list[TargetResult]
    controls: dict[str, ControlInfo]
    sections: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    # The evidence file these results were made from, which binds the two: its name,
    # SHA-256 (of the file's bytes), run id, and the sections that no longer matched
    # their own hashes when it was read (evaluated anyway only on request).
    evidence: dict[str, Any] | None = None
    # Compliance frameworks rendered for this run: each one's items (definitions, as
    # mapped in checks/mappings) and their verdicts, rolled up by cisaudit.rollup.
    frameworks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The waiver register: the file applied, each waiver and what it covered here.
    waivers: dict[str, Any] | None = None

    @property
    def evidence_modified(self) -> list[str]:
        return list((self.evidence or {}).get("modified") or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "tool": {"name": "cisaudit", "version": self.tool_version},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "interrupted": self.interrupted,
            "evidence": self.evidence,
            "benchmarks": self.benchmarks,
            "options": self.options,
            "summary": self.summary,
            "sections": self.sections,
            "controls": {cid: asdict(info) for cid, info in self.controls.items()},
            "targets": [t.to_dict() for t in self.targets],
            "frameworks": self.frameworks,
            "waivers": self.waivers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        major = str(data.get("schema_version", "")).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(
                f"results schema version {data.get('schema_version')!r} is not supported "
                f"(this cisaudit reads {SCHEMA_VERSION})"
            )
        return cls(
            run_id=data["run_id"],
            tool_version=data["tool"]["version"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            benchmarks=list(data["benchmarks"]),
            options=dict(data.get("options", {})),
            targets=[TargetResult.from_dict(t) for t in data["targets"]],
            controls={cid: ControlInfo(**c) for cid, c in data.get("controls", {}).items()},
            sections=data.get("sections", {}),
            summary=data.get("summary", {}),
            interrupted=bool(data.get("interrupted", False)),
            evidence=data.get("evidence") if isinstance(data.get("evidence"), dict) else None,
            frameworks=dict(data.get("frameworks") or {}),
            waivers=data.get("waivers") if isinstance(data.get("waivers"), dict) else None,
        )


# The parts of results.json that grow with the fleet: written compact, one target (or one
# framework) a line, by the json module's C encoder. Indented output goes through its
# pure-Python encoder, which took 4 of the client's 30 ms a host at 1,000 hosts.
_FLEET_SIZED = frozenset({"targets", "frameworks", "controls"})


def dump_run(run: Run, fh: Any) -> None:
    """results.json, written a target at a time: the whole run is never one dict tree
    (or one string) beside the run itself."""
    head = replace(run, targets=[]).to_dict()
    encoder = json.JSONEncoder(indent=1, ensure_ascii=False)
    compact = json.JSONEncoder(ensure_ascii=False)
    fh.write("{")
    for n, (key, value) in enumerate(head.items()):
        fh.write(("," if n else "") + f"\n {json.dumps(key)}: ")
        if key not in _FLEET_SIZED:
            for chunk in encoder.iterencode(value):
                fh.write(chunk)
            continue
        fh.write("[" if key == "targets" else "{")
        items = run.targets if key == "targets" else value.items()
        for m, item in enumerate(items):
            fh.write(("," if m else "") + "\n  ")
            if key == "targets":
                fh.write(compact.encode(item.to_dict()))
            else:
                fh.write(f"{json.dumps(item[0], ensure_ascii=False)}: ")
                # a framework's verdicts hold an entry per item and target: written an
                # item at a time, not as one string of tens of MB at 10,000 targets
                _write_compact(fh, item[1], compact, depth=2 if key == "frameworks" else 0)
        fh.write("\n ]" if key == "targets" else "\n }")
    fh.write("\n}\n")


def _write_compact(fh: Any, value: Any, compact: json.JSONEncoder, depth: int) -> None:
    """What ``compact.encode(value)`` gives, written piece by piece ``depth`` levels of
    mappings down."""
    if depth <= 0 or not isinstance(value, dict):
        fh.write(compact.encode(value))
        return
    fh.write("{")
    for n, (key, child) in enumerate(value.items()):
        fh.write(f"{', ' if n else ''}{json.dumps(key, ensure_ascii=False)}: ")
        _write_compact(fh, child, compact, depth - 1)
    fh.write("}")
