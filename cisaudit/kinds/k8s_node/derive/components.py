"""Each component's effective settings: its command line, the files it names, and its
real defaults (``settings.py``)."""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

from cisaudit.kinds.k8s_node import settings as ks
from cisaudit.kinds.k8s_node.derive.common import COMPONENTS
from cisaudit.kinds.k8s_node.derive.manifests import ManifestPod, _config_doc
from cisaudit.kinds.k8s_node.derive.records import ConfigFile, Process, _load_document
from cisaudit.kinds.k8s_node.settings import deep_merge, dig, parse_flags, split_list


def _resolve(path: str | None, base: str | None) -> str | None:
    if not path:
        return None
    if path.startswith("/") or not base:
        return path
    return posixpath.normpath(posixpath.join(base, path))


def kubelet_config(
    files: list[ConfigFile], errors: dict[str, str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The kubelet's --config file merged with its --config-dir drop-ins (None without a
    readable --config file), relative paths made absolute from each file's directory."""
    merged: dict[str, Any] | None = None
    path = None
    for item in files:
        if item.label not in ("kubelet.config", "kubelet.dropin"):
            continue
        if item.label == "kubelet.config":
            path = item.path
        doc = _config_doc(item, "k8s.components.kubelet.settings", errors)
        if doc is None:
            continue
        for field_path in ks.KUBELET_PATH_FIELDS:
            value = dig(doc, field_path)
            if isinstance(value, str) and value and not value.startswith("/"):
                _assign(doc, field_path, _resolve(value, posixpath.dirname(item.path)))
        merged = deep_merge(merged or {}, doc)
    return merged, path


def _assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


def derive_component(
    name: str,
    process: Process | None,
    pod: ManifestPod | None,
    files: list[ConfigFile],
    errors: dict[str, str],
) -> dict[str, Any]:
    """One component's facts: where its flags come from, and its effective settings."""
    if process is not None:
        source, pid, argv, env = "process", process.pid, process.argv, process.env
    elif pod is not None:
        source, pid, argv, env = "manifest", None, pod.argv, pod.env
    else:
        source, pid, argv, env = None, None, [], {}
    flags = parse_flags(argv, ks.BOOLEAN_FLAGS.get(name, frozenset()))
    facts: dict[str, Any] = {
        "running": process is not None,
        "source": source,
        "pid": pid,
        "argv": argv,
        "flags": flags,
        "manifest": pod.path if pod else None,
        # K3s: the command line its log shows for the component (journald or the file)
        "argv_from": process.origin if process is not None else None,
    }
    if name == "etcd":
        facts["env"] = env
        if process is not None and not process.env_readable:
            reason = (
                f"the environment of etcd (pid {process.pid}) could not be read, so its "
                "ETCD_* settings are unknown: audit as root (or with become)"
            )
            errors.setdefault("k8s.components.etcd.env", reason)
            errors.setdefault("k8s.components.etcd.settings", reason)
    if source is None:  # not on this node: no settings to judge
        facts.update(settings={}, setting_sources={}, lists={}, feature_gates={})
        return facts
    settings, extra = _settings(name, flags, env, files, errors)
    ks.normalise(name, settings)
    facts.update(
        settings=settings.values,
        setting_sources=settings.sources,
        lists={k: split_list(v) for k, v in settings.values.items()},
        feature_gates=ks.feature_gates(name, settings),
        **extra,
    )
    if name == "apiserver":
        facts["effective_admission_plugins"] = ks.effective_admission_plugins(settings)
    return facts


def _settings(
    name: str,
    flags: dict[str, str],
    env: dict[str, str],
    files: list[ConfigFile],
    errors: dict[str, str],
) -> tuple[ks.Settings, dict[str, Any]]:
    """A component's effective settings from its flags and the files they name; a file the
    component reads but the probe could not is an error on the component's settings."""
    by_label = {f.label: f for f in files}
    fact = f"k8s.components.{name}.settings"

    def document(label: str, named: str | None) -> dict[str, Any] | None:
        doc = _config_doc(by_label.get(label), fact, errors)
        if named and doc is None:
            errors.setdefault(fact, f"{COMPONENTS[name]} reads {named}, which could not be read")
        return doc

    if name == "apiserver":
        return ks.apiserver_settings(
            flags,
            document("apiserver.authorization", flags.get("authorization-config")),
            document("apiserver.authentication", flags.get("authentication-config")),
        ), {}
    if name == "controller_manager":
        return ks.simple_settings(ks.CONTROLLER_MANAGER_DEFAULTS, flags), {}
    if name == "scheduler":
        config = document("scheduler.config", flags.get("config"))
        settings, ignored = ks.scheduler_settings(flags, config)
        return settings, {"ignored_flags": ignored, "config_file": flags.get("config")}
    if name == "etcd":
        config_file = flags.get("config-file") or env.get("ETCD_CONFIG_FILE")
        config = document("etcd.config", config_file)
        return ks.etcd_settings(flags, env, config), {"config_file": config_file}
    if name == "kubelet":
        config, _ = kubelet_config(files, errors)
        if flags.get("config") and config is None:
            errors.setdefault(fact, f"kubelet reads {flags['config']}, which could not be read")
        return ks.kubelet_settings(flags, config), {}
    settings, ignored = ks.proxy_settings(flags, document("proxy.config", flags.get("config")))
    return settings, {"ignored_flags": ignored}


def derive_encryption(apiserver: dict[str, Any], files: list[ConfigFile]) -> dict[str, Any]:
    """The API server's encryption at rest: the first provider of each resource entry
    (the one new data is written with)."""
    path = (apiserver.get("settings") or {}).get("encryption-provider-config") or None
    result: dict[str, Any] = {"config_file": path, "providers": [], "resources": [], "error": None}
    if not path:
        return result
    item = next((f for f in files if f.label == "apiserver.encryption"), None)
    if item is None or item.text is None:
        result["error"] = f"{path} could not be read" + (f" ({item.problem})" if item else "")
        return result
    try:
        doc = _load_document(item.text)
    except yaml.YAMLError as exc:
        result["error"] = f"{path} is not valid YAML: {exc}"
        return result
    for entry in (doc or {}).get("resources") or []:
        providers = [
            next(iter(p)) for p in entry.get("providers") or [] if isinstance(p, dict) and p
        ]
        result["resources"].append(
            {"resources": list(entry.get("resources") or []), "providers": providers}
        )
        result["providers"].append(providers[0] if providers else None)
    if not result["resources"]:
        result["error"] = f"{path} lists no resources"
    return result
