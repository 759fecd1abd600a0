"""Waivers: accepted risks with an owner, a ticket and an end date.

A waiver file (``--waivers FILE``) lists decisions somebody signed::

    waivers:
      - id: W-2026-014
        controls: ["5.10", "cis-docker-1.6.0:5.11"]   # ids, sections, check slugs, packs
        targets: ["web-*", "group:batch"]             # globs over names and groups
        objects: ["container:legacy-*"]               # optional: only these objects
        reason: Batch workers need burst memory until the Q3 migration
        approved_by: 张伟 (CISO)
        ticket: SEC-1234
        approved_on: 2026-10-01                        # optional
        expires: 2027-03-31

Loading validates everything (exit 2 with the file and line): required fields, unknown
controls, duplicate ids, dates that do not exist, a validity longer than the maximum
(365 days unless configured). Applying is pure: a ``FAIL`` or ``MANUAL`` result in a
waiver's scope becomes ``WAIVED``; with ``objects``, only those objects are waived and a
control whose other objects still fail stays ``FAIL`` and names them. Every change is
recorded on the result (``waiver``) so that the score without waivers, and the results
before waivers, can always be recovered. An expired waiver applies nothing and is
listed as expired; one that covered nothing is listed as unused.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.model import Offender, Result, Run, Status, TargetResult
from cisaudit.yamlsrc import LineDict, SourceError, load_text

DEFAULT_MAX_DAYS = 365
EXPIRING_SOON_DAYS = 30
MAX_PATTERN = 256  # characters in one glob; globs are matched by fnmatch, never as regexes
WAIVABLE = (Status.FAIL, Status.MANUAL)

WAIVER_KEYS = {
    "id",
    "controls",
    "targets",
    "objects",
    "reason",
    "approved_by",
    "ticket",
    "approved_on",
    "expires",
}
# Object patterns: ``kind:glob``. Kinds name what the checks report as offenders.
OBJECT_KINDS = {
    "container": ("container",),
    "image": ("image",),
    "network": ("network",),
    "file": ("file", "cert_file", "cni_file", "pki_file"),
    "k8s": ("workload", "namespace", "subject", "role", "serviceaccount", "pod_spec"),
    "namespace": ("workload", "namespace", "subject", "role", "serviceaccount", "pod_spec"),
}


# -- what a waiver may name ------------------------------------------------------------------


@dataclass(frozen=True)
class KnownControl:
    pack: str
    id: str
    check: str = ""


class KnownControls:
    """The controls a waiver file is checked against: the whole catalog (every pack of
    every kind) when the CLI can load it, or the controls of a results file."""

    def __init__(self, controls: Iterable[KnownControl]) -> None:
        self.controls = list(controls)
        self.packs = {c.pack for c in self.controls}

    @classmethod
    def from_run(cls, run: Run) -> KnownControls:
        return cls(
            KnownControl(info.benchmark, info.id, info.check) for info in run.controls.values()
        )

    def resolves(self, spec: ControlSpec) -> bool:
        return any(spec.matches(c.pack, c.id, c.check) for c in self.controls)


@dataclass(frozen=True)
class ControlSpec:
    """``5.10`` (a control, or every control of section 5.10), ``5`` (a section), a check
    slug, a pack id (all of it), each optionally as ``<pack>:<id>`` or ``<pack>/<id>``."""

    text: str
    pack: str | None
    ident: str

    @classmethod
    def parse(cls, text: str, packs: set[str]) -> ControlSpec:
        text = text.strip()
        if text in packs:
            return cls(text, text, "")
        for sep in (":", "/"):
            head, found, tail = text.partition(sep)
            if found and head in packs:
                return cls(text, head, tail.strip())
        return cls(text, None, text)

    def matches(self, pack: str, control_id: str, check: str = "") -> bool:
        if self.pack is not None and self.pack != pack:
            return False
        if not self.ident:
            return True
        return (
            control_id == self.ident
            or control_id.startswith(self.ident + ".")
            or (bool(check) and check == self.ident)
        )


# -- the waivers ---------------------------------------------------------------------------


@dataclass
class Waiver:
    id: str
    controls: list[ControlSpec]
    targets: list[str]
    objects: list[str]
    reason: str
    approved_by: str
    expires: dt.date
    ticket: str = ""
    approved_on: dt.date | None = None
    line: int = 0

    def active(self, as_of: dt.date) -> bool:
        return as_of <= self.expires

    def covers_target(self, target: TargetResult) -> bool:
        for pattern in self.targets:
            if pattern.startswith("group:"):
                glob = pattern[len("group:") :]
                if any(fnmatch.fnmatchcase(g, glob) for g in target.groups):
                    return True
            elif fnmatch.fnmatchcase(target.name, pattern):
                return True
        return False

    def covers_control(self, pack: str, control_id: str, check: str) -> bool:
        return any(spec.matches(pack, control_id, check) for spec in self.controls)

    def covers_object(self, offender: Offender) -> bool:
        return any(_object_matches(p, offender) for p in self.objects)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "controls": [s.text for s in self.controls],
            "targets": list(self.targets),
            "objects": list(self.objects),
            "reason": self.reason,
            "approved_by": self.approved_by,
            "ticket": self.ticket,
            "approved_on": self.approved_on.isoformat() if self.approved_on else None,
            "expires": self.expires.isoformat(),
            "line": self.line,
        }


def _object_matches(pattern: str, offender: Offender) -> bool:
    kind, sep, glob = pattern.partition(":")
    if sep and kind in OBJECT_KINDS:
        if offender.kind not in OBJECT_KINDS[kind]:
            return False
    else:
        glob = pattern
        kind = ""
    names = [str(offender.name)] + ([str(offender.id)] if offender.id else [])
    if kind == "namespace":
        # A namespaced object is "ns/Kind/name"; the Namespace object itself "Namespace/ns".
        spaces = [n.split("/", 1)[0] for n in names if n.count("/") >= 2]
        spaces += [n.split("/", 1)[1] for n in names if n.startswith("Namespace/")]
        return any(fnmatch.fnmatchcase(s, glob) for s in spaces)
    if kind == "k8s":
        return any(fnmatch.fnmatchcase(n.lower(), glob.lower()) for n in names)
    return any(fnmatch.fnmatchcase(n, glob) for n in names)


@dataclass
class WaiverSet:
    """A validated waiver file."""

    source: str
    sha256: str
    waivers: list[Waiver]
    max_days: int = DEFAULT_MAX_DAYS

    def __iter__(self) -> Iterator[Waiver]:
        return iter(self.waivers)


def load_waivers(
    path: str | Path,
    known: KnownControls,
    *,
    max_days: int = DEFAULT_MAX_DAYS,
    today: dt.date | None = None,
) -> WaiverSet:
    """Read and validate a waiver file; every problem is a SourceError naming the line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(path, None, exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, None, f"not UTF-8 text ({exc.reason})") from None
    return parse_waivers(
        text,
        str(path),
        known,
        max_days=max_days,
        today=today,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def parse_waivers(
    text: str,
    name: str,
    known: KnownControls,
    *,
    max_days: int = DEFAULT_MAX_DAYS,
    today: dt.date | None = None,
    sha256: str = "",
) -> WaiverSet:
    today = today or dt.date.today()
    data = load_text(text, name)
    if data is None:
        data = LineDict({"waivers": []})
        data.line, data.key_lines = 1, {}
    if not isinstance(data, LineDict):
        raise SourceError(name, None, "a waiver file is a mapping with one key, waivers:")
    for key in data:
        if key != "waivers":
            raise SourceError(name, data.line_of(key), f"unknown key {key!r} (expected waivers:)")
    entries = data.get("waivers") or []
    if not isinstance(entries, list):
        raise SourceError(name, data.line_of("waivers"), "waivers: must be a list")
    waivers: list[Waiver] = []
    seen: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, LineDict):
            raise SourceError(
                name,
                getattr(entries, "line", None) or data.line_of("waivers"),
                f"each waiver is a mapping, not {type(entry).__name__} {str(entry)[:40]!r}",
            )
        waiver = _waiver(entry, name, known, max_days, today)
        if waiver.id in seen:
            raise SourceError(
                name,
                waiver.line,
                f"duplicate waiver id {waiver.id!r} (first on line {seen[waiver.id]})",
            )
        seen[waiver.id] = waiver.line
        waivers.append(waiver)
    return WaiverSet(
        source=name,
        sha256=sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest(),
        waivers=waivers,
        max_days=max_days,
    )


def _waiver(entry: Any, name: str, known: KnownControls, max_days: int, today: dt.date) -> Waiver:
    if not isinstance(entry, LineDict):
        raise SourceError(name, getattr(entry, "line", None), "each waiver is a mapping")
    line = entry.line
    for key in entry:
        if key not in WAIVER_KEYS:
            raise SourceError(name, entry.line_of(key), f"unknown key {key!r} in a waiver")
    wid = _text(entry, "id", name, required=True)
    label = f"waiver {wid}"
    for key in ("reason", "approved_by", "expires", "controls"):
        if key not in entry or entry[key] in (None, "", []):
            raise SourceError(name, line, f"{label}: {key} is required")
    controls = []
    for text in _strings(entry, "controls", name, label):
        spec = ControlSpec.parse(text, known.packs)
        if not known.resolves(spec):
            raise SourceError(
                name,
                entry.line_of("controls"),
                f"{label}: unknown control, section or check {text!r}",
            )
        controls.append(spec)
    targets = _strings(entry, "targets", name, label) if "targets" in entry else ["*"]
    objects = _strings(entry, "objects", name, label) if "objects" in entry else []
    expires = _date(entry, "expires", name, label)
    approved_on = _date(entry, "approved_on", name, label) if "approved_on" in entry else None
    assert expires is not None
    if approved_on and expires < approved_on:
        raise SourceError(name, entry.line_of("expires"), f"{label}: expires before approved_on")
    start = approved_on or today
    if (expires - start).days > max_days:
        raise SourceError(
            name,
            entry.line_of("expires"),
            f"{label}: valid for {(expires - start).days} days from "
            f"{'its approval' if approved_on else 'today'}; the maximum is {max_days}",
        )
    return Waiver(
        id=wid,
        controls=controls,
        targets=targets,
        objects=objects,
        reason=_text(entry, "reason", name, required=True),
        approved_by=_text(entry, "approved_by", name, required=True),
        ticket=_text(entry, "ticket", name),
        expires=expires,
        approved_on=approved_on,
        line=line,
    )


def _text(entry: LineDict, key: str, name: str, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None or isinstance(value, dict | list) or not str(value).strip():
        if required or value is not None:
            raise SourceError(name, entry.line_of(key), f"{key} must be a non-empty text")
        return ""
    return str(value).strip()


def _strings(entry: LineDict, key: str, name: str, label: str) -> list[str]:
    value = entry.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise SourceError(name, entry.line_of(key), f"{label}: {key} is a non-empty list")
    found = []
    for item in value:
        if isinstance(item, dict | list) or item is None or not str(item).strip():
            raise SourceError(name, entry.line_of(key), f"{label}: {key} holds plain texts")
        if isinstance(item, int | float) and not isinstance(item, bool):
            raise SourceError(
                name,
                entry.line_of(key),
                f"{label}: quote {item!r} in {key} ('5.10'): YAML reads an unquoted 5.10 as "
                "the number 5.1",
            )
        text = str(item).strip()
        if len(text) > MAX_PATTERN:
            raise SourceError(
                name,
                entry.line_of(key),
                f"{label}: a {key} pattern is over {MAX_PATTERN} characters",
            )
        found.append(text)
    return found


def _date(entry: LineDict, key: str, name: str, label: str) -> dt.date | None:
    value = entry.get(key)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise SourceError(
        name, entry.line_of(key), f"{label}: {key} must be a date, YYYY-MM-DD (got {value!r})"
    )


# -- applying them --------------------------------------------------------------------------


@dataclass
class _Use:
    covered: list[dict[str, Any]] = field(default_factory=list)


def apply_waivers(run: Run, waivers: WaiverSet | None, as_of: dt.date | None = None) -> None:
    """Waive what ``waivers`` cover in ``run`` (results and framework variants), after
    taking back whatever waivers were applied before; record the register on the run."""
    clear_waivers(run)
    if waivers is None:
        run.waivers = None
        return
    as_of = as_of or dt.date.today()
    active = [w for w in waivers if w.active(as_of)]
    uses = {w.id: _Use() for w in waivers}
    for target in run.targets:
        scoped = [w for w in active if w.covers_target(target)]
        if not scoped:
            continue
        lists = [("", target.results)] + [(f, rs) for f, rs in target.variants.items()]
        for framework, results in lists:
            for result in results:
                if result.status not in WAIVABLE:
                    continue
                key = target.control_key(result)
                info = run.controls.get(key)
                check = info.check if info else ""
                matching = [
                    w
                    for w in scoped
                    if w.covers_control(target.pack_of(result), result.control_id, check)
                ]
                if matching:
                    _waive(result, matching, target.name, key, framework, uses)
    register = []
    for waiver in waivers:
        covered = uses[waiver.id].covered
        state = "expired" if not waiver.active(as_of) else ("active" if covered else "unused")
        register.append(
            {
                **waiver.describe(),
                "state": state,
                "days_left": (waiver.expires - as_of).days,
                "expiring_soon": state != "expired"
                and (waiver.expires - as_of).days <= EXPIRING_SOON_DAYS,
                "covered": covered,
            }
        )
    run.waivers = {
        "file": Path(waivers.source).name,
        "sha256": waivers.sha256,
        "as_of": as_of.isoformat(),
        "max_validity_days": waivers.max_days,
        "waivers": register,
        "expired": [w["id"] for w in register if w["state"] == "expired"],
        "unused": [w["id"] for w in register if w["state"] == "unused"],
    }


def _waive(
    result: Result,
    matching: list[Waiver],
    target: str,
    key: str,
    framework: str,
    uses: dict[str, _Use],
) -> None:
    original_status, original_reason = result.status, result.reason
    remaining = list(enumerate(result.offenders))
    waived: list[dict[str, Any]] = []
    used: list[Waiver] = []
    whole = False
    for waiver in matching:
        if not waiver.objects:
            whole = True
            used.append(waiver)
            if not framework:
                uses[waiver.id].covered.append(
                    {
                        "target": target,
                        "control": key,
                        "status": original_status.value,
                        "objects": [],
                    }
                )
            break
        hits = [(i, o) for i, o in remaining if waiver.covers_object(o)]
        if not hits:
            continue
        used.append(waiver)
        remaining = [(i, o) for i, o in remaining if not waiver.covers_object(o)]
        waived += [{"index": i, "waiver": waiver.id, "offender": asdict(o)} for i, o in hits]
        if not framework:
            uses[waiver.id].covered.append(
                {
                    "target": target,
                    "control": key,
                    "status": original_status.value,
                    "objects": [o.name for _, o in hits],
                }
            )
        if not remaining:
            whole = True
            break
    if not used:
        return
    first = used[0]
    result.waiver = {
        "ids": [w.id for w in used],
        "id": first.id,
        "approved_by": first.approved_by,
        "ticket": first.ticket,
        "expires": first.expires.isoformat(),
        "reason": first.reason,
        "original_status": original_status.value,
        "original_reason": original_reason,
        "waived_offenders": waived,
        "partial": not whole,
    }
    result.offenders = [o for _, o in remaining] if not whole or waived else result.offenders
    ids = ", ".join(w.id for w in used)
    if whole:
        result.status = Status.WAIVED
        objects = f" ({len(waived)} object(s))" if waived else ""
        result.reason = f"waived by {ids}{objects}" + (
            f": {original_reason}" if original_reason else ""
        )
    else:
        still = ", ".join(o.name for _, o in remaining[:5]) + (" ..." if len(remaining) > 5 else "")
        result.reason = (
            f"{original_reason} [{len(waived)} object(s) waived by {ids}; "
            f"{len(remaining)} still {'fail' if original_status is Status.FAIL else 'need review'}: "
            f"{still}]"
        )


def clear_waivers(run: Run) -> None:
    """Take back every waiver applied to ``run``: results as they were judged."""
    for target in run.targets:
        for results in [target.results, *target.variants.values()]:
            for result in results:
                if result.waiver:
                    _restore(result)
    run.waivers = None


def _restore(result: Result) -> None:
    waiver = result.waiver or {}
    if "original_status" not in waiver:
        result.waiver = None
        return
    offenders = list(result.offenders)
    for entry in sorted(waiver.get("waived_offenders") or [], key=lambda e: e["index"]):
        offenders.insert(min(entry["index"], len(offenders)), Offender(**entry["offender"]))
    result.status = Status(waiver["original_status"])
    result.reason = waiver.get("original_reason", result.reason)
    result.offenders = offenders
    result.waiver = None


def status_without_waivers(result: Result) -> Status:
    """The verdict as judged, before any waiver."""
    if result.waiver and "original_status" in result.waiver:
        return Status(result.waiver["original_status"])
    return result.status
