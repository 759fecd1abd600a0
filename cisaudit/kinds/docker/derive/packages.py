"""Packages of each local image, read from its layers on the host (``image.layers``), each
attributed to the layer that brought it in and that layer's build step.

A layer's package database (dpkg's status file and status.d, apk's installed file) is the
whole database as of that layer: overlay2 keeps it in the layers that changed it, vfs in
every layer. An image's packages are those of its topmost layer holding a database; a
package was brought in by the lowest layer where it appears at that version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cisaudit.evidence import Section


@dataclass
class Layer:
    diff_id: str
    path: str
    readable: bool = True
    dbs: dict[str, dict[str, str]] = field(default_factory=dict)  # "dpkg"/"apk" -> name: version
    rpm: list[str] = field(default_factory=list)


@dataclass
class LayerStore:
    driver: str | None = None
    root: str | None = None
    error: str | None = None
    layers: dict[str, Layer] = field(default_factory=dict)


def parse_layers(section: Section | None) -> LayerStore:
    """The ``image.layers`` section: the store, then each layer and its package lines."""
    if section is None:
        return LayerStore(error="image.layers was not collected")
    if section.rc != 0:
        reason = (section.stderr or section.output).strip().splitlines()
        return LayerStore(error=reason[-1] if reason else f"exit code {section.rc}")
    store = LayerStore()
    prefix = _prefix(section.output)
    layer: Layer | None = None
    db: str | None = None
    stanza: dict[str, str] = {}

    def flush() -> None:
        nonlocal stanza
        if layer is not None and db and stanza.get("name"):
            installed = (
                db != "dpkg" or "installed" in stanza.get("status", "installed").split()[-1:]
            )
            if installed and stanza.get("version") is not None:
                layer.dbs.setdefault("dpkg" if db.startswith("dpkg") else db, {})[
                    stanza["name"]
                ] = stanza["version"]
        stanza = {}

    for line in section.output.split("\n"):
        if prefix and line.startswith(prefix):
            flush()
            kind, _, rest = line[len(prefix) :].partition(" ")
            if kind == "STORE":
                store.driver, _, store.root = rest.partition(" ")
            elif kind == "LAYER":
                diff_id, _, path = rest.partition(" ")
                layer = store.layers.setdefault(diff_id, Layer(diff_id, path))
                db = None
            elif layer is not None and kind == "MISSING":
                layer.readable = False
            elif layer is not None and kind in ("DPKG", "DPKGD", "APK"):
                db = kind.lower()
                if kind == "DPKG":  # the status file replaces any status.d read before
                    layer.dbs.setdefault("dpkg", {})
            elif layer is not None and kind == "RPM":
                layer.rpm.append(rest)
            continue
        if db is None:
            continue
        if db.startswith("dpkg"):
            key, _, value = line.partition(": ")
            if key == "Package":
                flush()
                stanza["name"] = value.strip()
            elif key == "Version":
                stanza["version"] = value.strip()
            elif key == "Status":
                stanza["status"] = value.strip()
        elif db == "apk":
            if line.startswith("P:"):
                flush()
                stanza["name"] = line[2:].strip()
            elif line.startswith("V:"):
                stanza["version"] = line[2:].strip()
    flush()
    return store


def _prefix(text: str) -> str | None:
    found = re.search(r"^(\S+/)STORE ", text, re.MULTILINE)
    return found.group(1) if found else None


def layer_steps(history: list[str], count: int) -> list[str | None]:
    """The build step of each of ``count`` layers, oldest first, from the image's history
    (oldest first): the steps that make a layer, lined up with the layers."""
    makers: list[str | None] = [
        h for i, h in enumerate(history) if _makes_layer(h) or (i == 0 and not h.strip())
    ]  # an imported root file system has an empty step of its own
    if len(makers) == count:
        return makers
    # Lined up from the newest layer down: the application's own steps are known even when
    # an older part of the history (a base squashed or imported) does not match.
    newest = makers[-count:] if count else []
    return [None] * (count - len(newest)) + newest


def _makes_layer(created_by: str) -> bool:
    text = created_by.strip()
    if "#(nop)" in text:  # classic builder: metadata, except ADD and COPY
        after = text.split("#(nop)", 1)[1].strip()
        return after.startswith(("ADD", "COPY"))
    if re.match(
        r"(ENV|LABEL|CMD|ENTRYPOINT|EXPOSE|USER|VOLUME|STOPSIGNAL|HEALTHCHECK|"
        r"ARG|SHELL|ONBUILD|MAINTAINER)\b",
        text,
    ):
        return False
    return bool(text)


def image_packages(diff_ids: list[str], store: LayerStore, history: list[str]) -> dict[str, Any]:
    """One image's packages with the layer (index, diff id, build step) that brought each
    in; ``error`` when a layer could not be read (that image's package facts are unknown)."""
    steps = layer_steps(history, len(diff_ids))
    result: dict[str, Any] = {
        "layers": list(diff_ids),
        "layer_steps": steps,
        "packages": [],
        "package_db": None,
        "packages_error": None,
    }
    if store.error:
        result["packages_error"] = store.error
        return result
    layers = [store.layers.get(d) for d in diff_ids]
    missing = [
        d for d, layer in zip(diff_ids, layers, strict=True) if layer is None or not layer.readable
    ]
    if missing:
        result["packages_error"] = (
            f"{len(missing)} of its {len(diff_ids)} layers could not be read on the host "
            f"(first: {missing[0][:19]})"
        )
        return result
    rpm = [p for layer in layers if layer for p in layer.rpm]
    for db in ("dpkg", "apk"):
        top = next((i for i in range(len(layers) - 1, -1, -1) if db in layers[i].dbs), None)  # type: ignore[union-attr]
        if top is None:
            continue
        result["package_db"] = db
        for name, version in sorted(layers[top].dbs[db].items()):  # type: ignore[union-attr]
            first = next(
                i
                for i in range(top + 1)
                if (layers[i].dbs.get(db) or {}).get(name) == version  # type: ignore[union-attr]
            )
            result["packages"].append(
                {
                    "name": name,
                    "version": version,
                    "type": db,
                    "layer": first,
                    "diff_id": diff_ids[first],
                    "step": steps[first],
                }
            )
        break
    if result["package_db"] is None and rpm:
        result["package_db"] = "rpm"
        result["packages_error"] = (
            f"an rpm database ({rpm[0]}) holds this image's packages; cisaudit does not read "
            "rpm databases yet"
        )
    return result
