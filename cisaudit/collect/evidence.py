"""Raw evidence: the exact outputs that facts are derived from, with their hashes.

An evidence bundle holds, per target, every section of the probe (command, exit code,
stdout, stderr, SHA-256). ``cisaudit evaluate`` re-derives facts from it offline, so a
bundle is a complete, portable record of an audit.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BUNDLE_VERSION = "1.0"


@dataclass
class Section:
    command: str
    rc: int
    output: str
    stderr: str = ""
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.output.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class TargetEvidence:
    """What was collected from one target (or why nothing could be)."""

    name: str
    kind: str
    address: str | None = None
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    collected_at: str | None = None
    duration_s: float | None = None
    remote_calls: int = 0
    error: str | None = None
    platform_version: str | None = None  # e.g. the Kubernetes version, to pick the benchmark
    sections: dict[str, Section] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evidence"] = data.pop("sections")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetEvidence:
        data = dict(data)
        sections = {k: Section(**v) for k, v in data.pop("evidence", {}).items()}
        return cls(**data, sections=sections)


def write_bundle(path: Path, targets: list[TargetEvidence], meta: dict[str, Any]) -> Path:
    data = {
        "schema_version": BUNDLE_VERSION,
        **meta,
        "targets": {t.name: t.to_dict() for t in targets},
    }
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read_bundle(path: Path) -> tuple[dict[str, Any], list[TargetEvidence]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        data = json.load(fh)
    if str(data.get("schema_version", "")).split(".")[0] != BUNDLE_VERSION.split(".")[0]:
        raise ValueError(f"{path}: evidence schema {data.get('schema_version')!r} not supported")
    targets = [TargetEvidence.from_dict(t) for t in data.get("targets", {}).values()]
    meta = {k: v for k, v in data.items() if k != "targets"}
    return meta, targets
