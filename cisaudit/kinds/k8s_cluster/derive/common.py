"""Reading list sections, and small accessors of API objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.k8s_cluster.derive.resources import Resource


def section_items(sections: dict[str, Section], resource: Resource) -> tuple[list[Any] | None, str]:
    """The items of one kind, or None and the reason it is unavailable."""
    stream, why = section_stream(sections, resource)
    if stream is None:
        return None, why
    try:
        return list(stream), ""
    except BadList as exc:
        return None, str(exc)


class BadList(Exception):
    """A recorded list turned out not to be valid JSON part-way through reading it."""


def section_stream(
    sections: dict[str, Section], resource: Resource
) -> tuple[Iterator[dict[str, Any]] | None, str]:
    """The items of one kind one at a time, or None and the reason it is unavailable.

    A list as cisaudit records it (one object a line, see ``ListText``) is read an object
    at a time, so that a 50,000-pod list never becomes one tree of objects; any other
    JSON List is parsed whole. Iterating raises BadList if a line is not JSON: the kind is
    then unavailable, as when the whole text is not."""
    section = sections.get(resource.section)
    if section is not None and section.rc == 0:
        lines = _object_lines(section.output)
        if lines is not None:
            return _objects_by_line(lines, resource.name), ""
    items, why = _parsed_items(sections, resource)
    return (None, why) if items is None else (iter(items), "")


_OPENING = re.compile(
    r'\A\{"apiVersion":"[^"\\\n]*","kind":"[^"\\\n]*List","metadata":\{[^\n]*\},"items":\[\Z'
)


def _object_lines(text: str) -> Iterator[str] | None:
    """The object lines of a list in cisaudit's own layout, or None for any other text."""
    first = text.find("\n")
    if first == -1 or not text.endswith("\n]}") or not _OPENING.match(text[:first]):
        return None
    return _lines_between(text, first + 1, len(text) - 3)


def _lines_between(text: str, start: int, end: int) -> Iterator[str]:
    while start < end:
        stop = text.find("\n", start, end)
        stop = end if stop == -1 else stop
        yield text[start:stop]
        start = stop + 1


def _objects_by_line(lines: Iterator[str], what: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 2):
        try:
            item = json.loads(line[:-1] if line.endswith(",") else line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise BadList(
                f"{what}: the recorded list is not valid JSON (line {number}: {exc})"
            ) from None
        if isinstance(item, dict):
            yield item


def _parsed_items(sections: dict[str, Section], resource: Resource) -> tuple[list[Any] | None, str]:
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
