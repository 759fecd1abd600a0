"""Raw evidence: the exact outputs that facts are derived from, with their hashes.

An evidence bundle holds, per target, every section of the probe (command, exit code,
stdout, stderr, SHA-256). ``cisaudit evaluate`` re-derives facts from it offline, so a
bundle is a complete, portable record of an audit.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, overload

from cisaudit.digest import text_sha256
from cisaudit.yamlsrc import SourceError

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
            self.sha256 = text_sha256(self.output)


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
    # Parameter values the inventory sets for this target (vars.cisaudit_params), kept with
    # the evidence so that offline evaluation judges against the same values.
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How the kind (and roles) were decided: "inventory", "group kube_node", "default"; and
    # what the probe found running, when it looked (dockerd, kubelet, kube-apiserver ...).
    kind_source: str = "inventory"
    detected: list[str] = field(default_factory=list)
    # Other kinds this host was also audited as (a Docker host that runs a kubelet): their
    # sections are in ``sections`` under "<kind>:" prefixes.
    also: list[str] = field(default_factory=list)
    # Why nothing was audited on a reachable host (nothing cisaudit audits runs there).
    nothing: str | None = None
    sections: dict[str, Section] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As JSON wants it, ``sections`` as ``evidence`` last. Built field by field:
        ``dataclasses.asdict`` deep-copies every value, which cost a millisecond a host."""
        data: dict[str, Any] = {}
        for name in _TARGET_FIELDS:
            value = getattr(self, name)
            if isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
            data[name] = value
        data["evidence"] = {
            key: {
                "command": s.command,
                "rc": s.rc,
                "output": s.output,
                "stderr": s.stderr,
                "sha256": s.sha256,
            }
            for key, s in self.sections.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetEvidence:
        data = dict(data)
        sections = {k: Section(**v) for k, v in data.pop("evidence", {}).items()}
        return cls(**data, sections=sections)


_TARGET_FIELDS = tuple(f.name for f in fields(TargetEvidence) if f.name != "sections")


def _open_for_writing(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="utf-8")
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 - the caller closes it


def write_bundle(
    path: Path, targets: Sequence[TargetEvidence] | EvidenceSpool, meta: dict[str, Any]
) -> Path:
    """Write an evidence bundle, streamed piece by piece: a fleet's evidence is never
    one string in memory (and from a spool, never all in memory at all)."""
    if isinstance(targets, EvidenceSpool):
        return targets.write_bundle(path, meta)
    data = {
        "schema_version": BUNDLE_VERSION,
        **meta,
        "targets": {t.name: t.to_dict() for t in targets},
    }
    encoder = json.JSONEncoder(indent=1, ensure_ascii=False)
    with _open_for_writing(path) as fh:
        for chunk in encoder.iterencode(data):
            fh.write(chunk)
    return path


_BLOCK = 1 << 20


def _write_json_value(fh: IO[bytes], value: Any) -> None:
    """``value`` as JSON, a long string escaped a block at a time (a str never splits a
    character, so the blocks join to what one json.dumps gives)."""
    if not isinstance(value, str) or len(value) <= _BLOCK:
        fh.write(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        return
    fh.write(b'"')
    for at in range(0, len(value), _BLOCK):
        fh.write(json.dumps(value[at : at + _BLOCK], ensure_ascii=False)[1:-1].encode("utf-8"))
    fh.write(b'"')


class EvidenceSpool(Sequence[TargetEvidence]):
    """Targets' evidence kept on disk as they finish, so that a fleet's raw outputs are
    not held in memory until the run is written. Each target is appended to an anonymous
    temporary file as its JSON text and read back one at a time by position or name; the
    bundle is written by copying those texts. The file disappears when the spool is
    closed or collected."""

    def __init__(self, directory: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory, prefix="cisaudit-evidence-")
        self._index: dict[str, tuple[int, int]] = {}
        self._order: list[str] = []

    def add(self, item: TargetEvidence) -> None:
        """Keep ``item`` (a later one of the same name replaces it). Written a section
        at a time and a large output in blocks, so a cluster's 100 MB pod list is not
        copied whole twice more (as JSON text, then as bytes) on its way to disk."""
        data = item.to_dict()
        evidence = data.pop("evidence")
        fh = self._file
        fh.seek(0, io.SEEK_END)
        start = fh.tell()
        fh.write(json.dumps(data, ensure_ascii=False)[:-1].encode("utf-8"))
        fh.write(b', "evidence": {' if data else b'"evidence": {')
        for n, (key, section) in enumerate(evidence.items()):
            fh.write(f"{', ' if n else ''}{json.dumps(key, ensure_ascii=False)}: {{".encode())
            for m, (field_name, value) in enumerate(section.items()):
                fh.write(f"{', ' if m else ''}{json.dumps(field_name)}: ".encode())
                _write_json_value(fh, value)
            fh.write(b"}")
        fh.write(b"}}")
        if item.name not in self._index:
            self._order.append(item.name)
        self._index[item.name] = (start, fh.tell() - start)

    def order(self, names: Sequence[str]) -> None:
        """Put the targets in this order (the inventory's), whatever order they finished in."""
        self._order = [n for n in names if n in self._index]

    def _text(self, name: str) -> bytes:
        offset, length = self._index[name]
        self._file.seek(offset)
        return self._file.read(length)

    def get(self, name: str) -> TargetEvidence | None:
        if name not in self._index:
            return None
        return TargetEvidence.from_dict(json.loads(self._text(name)))

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> TargetEvidence: ...

    @overload
    def __getitem__(self, index: slice) -> list[TargetEvidence]: ...

    def __getitem__(self, index: int | slice) -> TargetEvidence | list[TargetEvidence]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        found = self.get(self._order[index])
        assert found is not None
        return found

    def __iter__(self) -> Iterator[TargetEvidence]:
        for name in list(self._order):
            found = self.get(name)
            if found is not None:
                yield found

    def write_bundle(self, path: Path, meta: dict[str, Any]) -> Path:
        """The evidence bundle, each target's text copied from the spool as it is."""
        head = json.dumps({"schema_version": BUNDLE_VERSION, **meta}, ensure_ascii=False)
        with _open_for_writing(path) as fh:
            fh.write(head[:-1] + (', "targets": {' if head != "{}" else '"targets": {'))
            for n, name in enumerate(self._order):
                fh.write(("," if n else "") + "\n " + json.dumps(name, ensure_ascii=False) + ": ")
                fh.write(self._text(name).decode("utf-8"))
            fh.write("\n}}\n")
        return path

    def close(self) -> None:
        self._file.close()


class EvidenceError(SourceError):
    """An evidence file that cannot be used: unreadable, malformed, or modified."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        super().__init__(path, line, message)


@dataclass
class Bundle:
    """An evidence file as read: its metadata, its targets, and its integrity."""

    meta: dict[str, Any]
    targets: list[TargetEvidence]
    sha256: str  # of the file's bytes, as written (compressed or not)
    modified: list[str] = field(default_factory=list)  # "target/section" failing its hash


_TARGET_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "kind": (str,),
    "address": (str, type(None)),
    "groups": (list,),
    "roles": (list,),
    "collected_at": (str, type(None)),
    "duration_s": (int, float, type(None)),
    "remote_calls": (int,),
    "error": (str, type(None)),
    "platform_version": (str, type(None)),
    "params": (dict,),
    "kind_source": (str,),
    "detected": (list,),
    "also": (list,),
    "nothing": (str, type(None)),
    "evidence": (dict,),
}
_REQUIRED_TARGET_KEYS = ("name", "kind")
_SECTION_TYPES: dict[str, tuple[type, ...]] = {
    "command": (str,),
    "rc": (int,),
    "output": (str,),
    "stderr": (str,),
    "sha256": (str,),
}
_REQUIRED_SECTION_KEYS = ("command", "rc", "output", "sha256")


def load_bundle(path: Path, *, allow_modified: bool = False) -> Bundle:
    """Read and check an evidence file (``.json`` or ``.json.gz``).

    Every section's SHA-256 is checked against its output. A mismatch raises
    :class:`EvidenceError` naming the sections, unless ``allow_modified``: they are
    then listed in ``Bundle.modified`` so that results and reports can say so. Every
    other problem (not JSON, a truncated gzip, wrong types, unknown keys) raises
    :class:`EvidenceError` naming the file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EvidenceError(path, f"cannot read the evidence file: {exc.strerror or exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise EvidenceError(path, f"truncated or damaged gzip file ({exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EvidenceError(path, f"not UTF-8 text ({exc.reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise EvidenceError(path, "refused: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise EvidenceError(path, f"an evidence file is a JSON object, not a {type(data).__name__}")
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != BUNDLE_VERSION.split(".")[0]:
        raise EvidenceError(
            path,
            f"evidence schema {data.get('schema_version')!r} is not supported "
            f"(this cisaudit reads {BUNDLE_VERSION})",
        )
    entries = data.get("targets")
    if not isinstance(entries, dict):
        raise EvidenceError(path, "'targets' must be an object mapping target names to evidence")
    targets = [_target(path, key, entry) for key, entry in entries.items()]
    meta = {k: v for k, v in data.items() if k != "targets"}
    modified = [
        f"{t.name}/{name}"
        for t in targets
        for name, section in t.sections.items()
        if section.sha256 != _digest(section.output)
    ]
    if modified and not allow_modified:
        shown = ", ".join(modified[:5]) + (
            f" and {len(modified) - 5} more" if len(modified) > 5 else ""
        )
        raise EvidenceError(
            path,
            f"{len(modified)} evidence section(s) no longer match their SHA-256: {shown}. "
            "The file was changed after it was recorded; use --allow-modified-evidence to "
            "evaluate it anyway (results and reports will then say so)",
        )
    return Bundle(meta, targets, digest, modified)


def read_bundle(
    path: Path, *, allow_modified: bool = False
) -> tuple[dict[str, Any], list[TargetEvidence]]:
    """The metadata and targets of a checked evidence file (see :func:`load_bundle`)."""
    bundle = load_bundle(path, allow_modified=allow_modified)
    return bundle.meta, bundle.targets


def _digest(output: str) -> str:
    return text_sha256(output)


def _target(path: Path, key: str, entry: Any) -> TargetEvidence:
    where = f"target {key!r}"
    if not isinstance(entry, dict):
        raise EvidenceError(path, f"{where}: expected an object, got {type(entry).__name__}")
    _check_fields(path, where, entry, _TARGET_TYPES, _REQUIRED_TARGET_KEYS)
    if entry["name"] != key:
        raise EvidenceError(path, f"{where}: its name is {entry['name']!r}")
    for name in ("groups", "roles"):
        if not all(isinstance(v, str) for v in entry.get(name, [])):
            raise EvidenceError(path, f"{where}: '{name}' must be a list of strings")
    sections = {}
    for name, item in entry.get("evidence", {}).items():
        if not isinstance(item, dict):
            raise EvidenceError(path, f"{where}, section {name!r}: expected an object")
        _check_fields(
            path, f"{where}, section {name!r}", item, _SECTION_TYPES, _REQUIRED_SECTION_KEYS
        )
        sections[name] = Section(**item)
    data = {k: v for k, v in entry.items() if k != "evidence"}
    return TargetEvidence(**data, sections=sections)


def _check_fields(
    path: Path,
    where: str,
    entry: dict[str, Any],
    types: dict[str, tuple[type, ...]],
    required: tuple[str, ...],
) -> None:
    for key, value in entry.items():
        if key not in types:
            raise EvidenceError(path, f"{where}: unknown key {key!r}")
        if not isinstance(value, types[key]) or (
            isinstance(value, bool) and bool not in types[key]
        ):
            raise EvidenceError(
                path, f"{where}: {key!r} has the wrong type ({type(value).__name__})"
            )
    missing = [k for k in required if k not in entry]
    if missing:
        raise EvidenceError(path, f"{where}: missing {', '.join(repr(k) for k in missing)}")
