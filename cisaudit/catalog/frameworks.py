"""Compliance frameworks as data: ``checks/mappings/<framework-id>.yaml``.

A framework (等保 2.0 level 3, PCI DSS 4.0.1, ISO/IEC 27001:2022 Annex A, CIS Controls v8)
is a list of **items**, each in the assessor's own terms: its id (for 等保 the GB/T 28448
test unit, ``L3-CES1-01``, with the GB/T 22239 clause ``8.1.4.1 a)``), its layer and
control point, a title in our own words, the kinds of test object it applies to, the
pack controls that give **direct** evidence for it and those that only **support** it,
and its **coverage**: ``full`` (the technical checks decide it), ``partial`` (it also
needs interviews or documents) or ``none`` (listed as not covered, never judged).

A framework may set **parameters** of checks (audit-log retention: 180 days for 等保,
365 for PCI DSS): its verdicts are then judged against those values, and say so.

Everything is validated when loaded: an unknown pack, control, check or parameter, a
duplicate item id, or an item with coverage but no control is an error naming the file
and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.yamlsrc import LineDict, SourceError, load_file

FRAMEWORK_KEYS = {"id", "name", "standard", "vocabulary", "params", "items", "description"}
ITEM_KEYS = {
    "id",
    "clause",
    "test_unit",
    "layer",
    "control_point",
    "requirement_set",
    "title",
    "objects",
    "coverage",
    "procedure",
    "controls",
    "supporting",
    "note",
    "group",
}
COVERAGE = ("full", "partial", "none")
VOCABULARIES = ("mlps", "generic")
OBJECT_KINDS = ("docker-host", "local", "k8s-node", "k8s-cluster")


@dataclass
class FrameworkItem:
    """One requirement of a framework, in the assessor's terms, and its evidence."""

    id: str
    title: dict[str, str]
    coverage: str
    objects: list[str]
    controls: list[str]  # "pack/control-id": direct evidence
    supporting: list[str]  # "pack/control-id": context only, never decides
    clause: str = ""
    test_unit: str = ""
    layer: dict[str, str] = field(default_factory=dict)
    control_point: dict[str, str] = field(default_factory=dict)
    requirement_set: str = ""
    procedure: dict[str, str] = field(default_factory=dict)
    note: dict[str, str] = field(default_factory=dict)
    group: str = ""  # e.g. the CIS Controls implementation group, or a PCI requirement

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "clause": self.clause,
            "test_unit": self.test_unit,
            "layer": self.layer,
            "control_point": self.control_point,
            "requirement_set": self.requirement_set,
            "title": self.title,
            "objects": self.objects,
            "coverage": self.coverage,
            "procedure": self.procedure,
            "controls": self.controls,
            "supporting": self.supporting,
            "note": self.note,
            "group": self.group,
        }


@dataclass
class Framework:
    id: str
    name: dict[str, str]
    standard: dict[str, str]
    vocabulary: str  # "mlps": 符合/部分符合/不符合/不适用; "generic": met / partly / not met
    items: list[FrameworkItem]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # check slug -> values
    description: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def packs(self) -> set[str]:
        return {key.split("/")[0] for item in self.items for key in item.controls + item.supporting}

    def to_dict(self) -> dict[str, Any]:
        """The definition as a run carries it (results.json ``frameworks``)."""
        return {
            "id": self.id,
            "name": self.name,
            "standard": self.standard,
            "vocabulary": self.vocabulary,
            "description": self.description,
            "params": self.params,
            "items": [item.to_dict() for item in self.items],
        }


def load_framework(path: Path, known: Any) -> Framework:
    """Read and validate one framework file. ``known`` is the catalog being built: its
    packs (loaded), ``known`` names (packs and checks in the folders) and checks."""
    data = _mapping(load_file(path), path, "framework file")
    _keys(data, FRAMEWORK_KEYS, path)
    for key in ("id", "name", "items"):
        if key not in data:
            raise SourceError(path, data.line, f"missing required key {key!r}")
    framework_id = str(data["id"])
    if framework_id != path.stem:
        raise SourceError(
            path, data.line_of("id"), f"id {framework_id!r} must equal the file name {path.stem!r}"
        )
    vocabulary = str(data.get("vocabulary", "generic"))
    if vocabulary not in VOCABULARIES:
        raise SourceError(path, data.line_of("vocabulary"), f"vocabulary is one of {VOCABULARIES}")
    params = _params(data, path, known)
    items: list[FrameworkItem] = []
    seen: dict[str, int] = {}
    if not isinstance(data["items"], list):
        raise SourceError(path, data.line_of("items"), "items must be a list")
    for raw in data["items"]:
        item = _item(_mapping(raw, path, "item"), path, known)
        if item.id in seen:
            raise SourceError(
                path, raw.line, f"duplicate item {item.id!r} (first on line {seen[item.id]})"
            )
        seen[item.id] = raw.line
        items.append(item)
    return Framework(
        id=framework_id,
        name=_text(data["name"], path, data.line_of("name")),
        standard=_text(data.get("standard", {}), path, data.line_of("standard"), optional=True),
        vocabulary=vocabulary,
        items=items,
        params=params,
        description=_text(
            data.get("description", {}), path, data.line_of("description"), optional=True
        ),
        source=str(path),
    )


def _item(raw: LineDict, path: Path, known: Any) -> FrameworkItem:
    _keys(raw, ITEM_KEYS, path)
    for key in ("id", "title", "coverage"):
        if key not in raw:
            raise SourceError(path, raw.line, f"item: missing required key {key!r}")
    if isinstance(raw["id"], int | float) and not isinstance(raw["id"], bool):
        raise SourceError(path, raw.line_of("id"), f"quote the item id {raw['id']!r}")
    item_id = str(raw["id"])
    coverage = str(raw["coverage"])
    if coverage not in COVERAGE:
        raise SourceError(
            path, raw.line_of("coverage"), f"{item_id}: coverage is one of {COVERAGE}"
        )
    objects = [str(o) for o in raw.get("objects", list(OBJECT_KINDS))]
    for kind in objects:
        if kind not in OBJECT_KINDS:
            raise SourceError(path, raw.line_of("objects"), f"{item_id}: unknown object {kind!r}")
    controls = _controls(raw, "controls", path, known, item_id)
    supporting = _controls(raw, "supporting", path, known, item_id)
    if coverage != "none" and not controls and known.complete:
        raise SourceError(
            path, raw.line, f"{item_id}: coverage {coverage} needs at least one direct control"
        )
    return FrameworkItem(
        id=item_id,
        title=_text(raw["title"], path, raw.line_of("title")),
        coverage=coverage,
        objects=objects,
        controls=controls,
        supporting=supporting,
        clause=str(raw.get("clause", "")),
        test_unit=str(raw.get("test_unit", "")),
        layer=_text(raw.get("layer", {}), path, raw.line_of("layer"), optional=True),
        control_point=_text(
            raw.get("control_point", {}), path, raw.line_of("control_point"), optional=True
        ),
        requirement_set=str(raw.get("requirement_set", "")),
        procedure=_text(raw.get("procedure", {}), path, raw.line_of("procedure"), optional=True),
        note=_text(raw.get("note", {}), path, raw.line_of("note"), optional=True),
        group=str(raw.get("group", "")),
    )


def _controls(raw: LineDict, key: str, path: Path, known: Any, item_id: str) -> list[str]:
    """``{pack: [control ids]}`` -> ["pack/id", ...]; unknown packs and controls refused
    (a pack of another kind, not loaded for this run, is skipped)."""
    value = raw.get(key) or LineDict()
    if not isinstance(value, LineDict):
        raise SourceError(path, raw.line_of(key), f"{item_id}: {key} maps a pack to control ids")
    found = []
    for pack_id, ids in value.items():
        pack = known.packs.get(str(pack_id))
        if pack is None:
            if str(pack_id) in known.known:
                continue
            raise SourceError(path, value.line_of(pack_id), f"{item_id}: unknown pack {pack_id!r}")
        if not isinstance(ids, list):
            raise SourceError(path, value.line_of(pack_id), f"{item_id}: a list of control ids")
        for cid in ids:
            if isinstance(cid, int | float) and not isinstance(cid, bool):
                raise SourceError(
                    path,
                    getattr(ids, "line", None) or value.line_of(pack_id),
                    f"{item_id}: quote the control id {cid!r} ('5.10'): YAML reads an unquoted "
                    "5.10 as the number 5.1",
                )
            if str(cid) not in pack.controls:
                raise SourceError(
                    path,
                    getattr(ids, "line", None) or value.line_of(pack_id),
                    f"{item_id}: unknown control {cid!r} in {pack_id}",
                )
            found.append(f"{pack_id}/{cid}")
    return found


def _params(data: LineDict, path: Path, known: Any) -> dict[str, dict[str, Any]]:
    value = data.get("params") or LineDict()
    if not isinstance(value, LineDict):
        raise SourceError(path, data.line_of("params"), "params maps a check slug to values")
    params: dict[str, dict[str, Any]] = {}
    for slug, values in value.items():
        check = known.checks.get(str(slug))
        if check is None:
            if str(slug) in known.known:
                continue
            raise SourceError(path, value.line_of(slug), f"params: unknown check {slug!r}")
        if not isinstance(values, LineDict):
            raise SourceError(path, value.line_of(slug), f"params: {slug} needs {{name: value}}")
        for name in values:
            if name not in check.params:
                raise SourceError(
                    path, values.line_of(name), f"params: check {slug} has no parameter {name!r}"
                )
        params[str(slug)] = dict(values)
    return params


def _mapping(value: Any, path: Path, what: str) -> LineDict:
    if not isinstance(value, LineDict):
        raise SourceError(path, getattr(value, "line", None), f"{what} must be a mapping")
    return value


def _keys(data: LineDict, allowed: set[str], path: Path) -> None:
    for key in data:
        if key not in allowed:
            raise SourceError(path, data.line_of(key), f"unknown key {key!r}")


def _text(value: Any, path: Path, line: int | None, *, optional: bool = False) -> dict[str, str]:
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict):
        raise SourceError(path, line, "expected a text: {en: ..., zh: ...}")
    texts = {
        lang: str(value[lang]).strip() for lang in ("en", "zh") if str(value.get(lang, "")).strip()
    }
    if not optional and "en" not in texts and "zh" not in texts:
        raise SourceError(path, line, "a text in English or Chinese is needed")
    return texts
