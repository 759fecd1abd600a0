"""Reading list sections, and small accessors of API objects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.k8s_cluster.derive.resources import Resource


def section_items(sections: dict[str, Section], resource: Resource) -> tuple[list[Any] | None, str]:
    """The items of one kind, or None and the reason it is unavailable."""
    section = sections.get(resource.section)
    if section is None:
        if resource.optional:
            return [], ""  # evidence from before cisaudit read this custom resource
        return None, f"{resource.name} were not collected"
    if section.rc != 0:
        return None, _reason(section, resource.name)
    try:
        data = json.loads(section.output)
    except json.JSONDecodeError as exc:
        return None, f"{resource.name}: the recorded list is not valid JSON ({exc})"
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None, f"{resource.name}: the recorded answer is not a List object"
    return [i for i in items if isinstance(i, dict)], ""


def _reason(section: Section, what: str) -> str:
    if section.stderr.strip():
        return section.stderr.strip()
    try:
        message = json.loads(section.output).get("message")
    except (json.JSONDecodeError, AttributeError):
        message = None
    return f"{what}: HTTP {section.rc}: {message or 'no reason given'}"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _ns(obj: dict[str, Any]) -> str:
    # A manifest without a namespace lands in "default" when applied, as kubectl does.
    return str(_meta(obj).get("namespace") or "default")


def object_name(obj: dict[str, Any], namespaced: bool) -> str:
    """``namespace/Kind/name`` for namespaced objects, ``Kind/name`` for the others."""
    kind, name = obj.get("kind", "?"), _meta(obj).get("name", "?")
    return f"{_ns(obj)}/{kind}/{name}" if namespaced else f"{kind}/{name}"


def _base_cis(obj: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    cis: dict[str, Any] = {
        "name": object_name(obj, namespaced),
        "kind": obj.get("kind"),
        "id": _meta(obj).get("uid"),
    }
    if namespaced:
        cis["namespace"] = _ns(obj)
    return cis


def _caps(values: Iterable[Any] | None) -> list[str]:
    return [str(v).upper().removeprefix("CAP_") for v in values or []]


def _controller(obj: dict[str, Any]) -> str | None:
    refs = _meta(obj).get("ownerReferences") or []
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None
