"""Static pod manifests: each component's pod as the kubelet would start it."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

import yaml

from cisaudit.kinds.k8s_node.derive.common import COMPONENTS
from cisaudit.kinds.k8s_node.derive.records import ConfigFile, _load_document
from cisaudit.yamlsrc import safe_load_all

# hyperkube's short component names
HYPERKUBE_NAMES = {
    "apiserver": "kube-apiserver",
    "controller-manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
    "proxy": "kube-proxy",
}


@dataclass
class ManifestPod:
    component: str
    path: str
    argv: list[str]
    env: dict[str, str]
    image: str | None


def parse_manifests(files: list[ConfigFile], errors: dict[str, str]) -> dict[str, ManifestPod]:
    """The static pod of each component, found by its container's executable name."""
    binaries = {binary: name for name, binary in COMPONENTS.items()}
    found: dict[str, ManifestPod] = {}
    for item in files:
        if item.label != "manifest" or item.text is None:
            continue
        try:
            docs = [d for d in safe_load_all(item.text) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            errors.setdefault("k8s.manifests", f"{item.path} is not valid YAML: {exc}")
            continue
        for doc in docs:
            for container in (doc.get("spec") or {}).get("containers") or []:
                if not isinstance(container, dict):
                    continue
                command = [str(a) for a in container.get("command") or []]
                args = [str(a) for a in container.get("args") or []]
                image = str(container.get("image") or "")
                image_name = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
                binary = posixpath.basename(command[0]) if command else image_name
                if binary == "hyperkube" and len(command) > 1:
                    # `hyperkube kube-apiserver ...` (or the short `hyperkube apiserver`)
                    binary = HYPERKUBE_NAMES.get(command[1], command[1])
                    command = [binary, *command[2:]]
                if binary not in binaries or binaries[binary] in found:
                    continue
                argv = (command or [binary]) + args
                env = {
                    str(e.get("name")): str(e.get("value"))
                    for e in container.get("env") or []
                    if isinstance(e, dict) and e.get("name") and "value" in e
                }
                found[binaries[binary]] = ManifestPod(
                    binaries[binary], item.path, argv, env, image or None
                )
    return found


def _config_doc(
    item: ConfigFile | None, fact: str, errors: dict[str, str]
) -> dict[str, Any] | None:
    """The parsed document of a configuration file; a missing or broken file is an error."""
    if item is None:
        return None
    if item.text is None:
        errors.setdefault(fact, f"cannot read {item.path}: {item.problem}")
        return None
    try:
        doc = _load_document(item.text)
    except yaml.YAMLError as exc:
        errors.setdefault(fact, f"{item.path} is not valid YAML/JSON: {exc}")
        return None
    if not isinstance(doc, dict):
        errors.setdefault(fact, f"{item.path} does not hold a mapping")
        return None
    return doc
