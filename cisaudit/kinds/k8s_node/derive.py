"""From a Kubernetes node's raw probe output to the facts node controls read.

The contract is ``docs/facts-k8s.md`` (node part: ``k8s``, ``files``, ``pki_files``,
``cni_files``). Pure functions only: raw sections in, a nested dict of facts and a dict of
per-fact errors out. The same code runs live and in ``cisaudit evaluate`` on a bundle.
Each component's real defaults and precedence (flag, configuration file, environment) are
in ``cisaudit.kinds.k8s_node.settings``, documented there entry by entry.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from cisaudit.evidence import Section
from cisaudit.kinds.common.stat_record import stat_record
from cisaudit.kinds.k8s_node import settings as ks
from cisaudit.kinds.k8s_node.settings import deep_merge, dig, parse_flags, split_list
from cisaudit.yamlsrc import safe_load_all

# fact name -> executable name
COMPONENTS: dict[str, str] = {
    "apiserver": "kube-apiserver",
    "controller_manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
    "etcd": "etcd",
    "kubelet": "kubelet",
    "proxy": "kube-proxy",
}
# Components a node role implies: their absence is an ERROR for the controls that read them.
ROLE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "control-plane": ("apiserver", "controller_manager", "scheduler"),
    "etcd": ("etcd",),
    "worker": ("kubelet",),
}

# kubeadm's layout, used where no running component names a location.
KUBEADM = {
    "manifests": "/etc/kubernetes/manifests",
    "pki_dir": "/etc/kubernetes/pki",
    "admin_conf": "/etc/kubernetes/admin.conf",
    "super_admin_conf": "/etc/kubernetes/super-admin.conf",
    "scheduler_kubeconfig": "/etc/kubernetes/scheduler.conf",
    "controller_manager_kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "kubelet_kubeconfig": "/etc/kubernetes/kubelet.conf",
    "kubelet_config": "/var/lib/kubelet/config.yaml",
    "kubelet_client_ca": "/etc/kubernetes/pki/ca.crt",
    "etcd_data_dir": "/var/lib/etcd",
}
# The kubelet's systemd unit: kubeadm's drop-in first (where its packages put it), then
# the unit itself, as CIS 4.1.1 names them.
KUBELET_UNITS = (
    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
)
CNI_DIRS = ("/etc/cni/net.d", "/var/lib/cni/networks")
FILE_NAMES = (
    "apiserver_manifest",
    "controller_manager_manifest",
    "scheduler_manifest",
    "etcd_manifest",
    "etcd_data_dir",
    "admin_conf",
    "super_admin_conf",
    "scheduler_kubeconfig",
    "controller_manager_kubeconfig",
    "kubelet_service",
    "kubelet_kubeconfig",
    "kubelet_config",
    "kubelet_client_ca",
    "proxy_kubeconfig",
    "pki_dir",
)

# -- records inside sections ----------------------------------------------------------------


@dataclass
class Record:
    """One ``<nonce>/KIND args...`` line of a section and the lines after it."""

    kind: str
    args: list[str]
    lines: list[str] = field(default_factory=list)


def record_prefix(lines: list[str]) -> str | None:
    """The nonce prefix of a section's record lines: the first marker line gives it."""
    for line in lines:
        match = re.match(r"(\S+/)[A-Z]+(?: |$)", line)
        if match:
            return match.group(1)
    return None


def split_records(section: Section | None) -> list[Record]:
    """The records of a probe section. The first marker line gives the nonce prefix, so a
    file's content (which cannot know the nonce) never starts a record."""
    if section is None:
        return []
    lines = section.output.split("\n")
    prefix = record_prefix(lines)
    if prefix is None:
        return []
    records: list[Record] = []
    for line in lines:
        if line.startswith(prefix) and re.match(r"[A-Z]+( |$)", line[len(prefix) :]):
            kind, *args = line[len(prefix) :].split(" ")
            records.append(Record(kind, args))
        elif records:
            records[-1].lines.append(line)
    return records


@dataclass
class Process:
    component: str
    pid: int
    uid: int | None
    exe: str | None
    cwd: str | None
    argv: list[str]
    env: dict[str, str]
    env_readable: bool = True


def parse_processes(section: Section | None) -> dict[str, Process]:
    """Each running component's process, from the ``k8s.processes`` section."""
    found: dict[str, Process] = {}
    current: Process | None = None
    for record in split_records(section):
        if record.kind == "PROC" and len(record.args) >= 2 and record.args[1].isdigit():
            uid = record.args[2] if len(record.args) > 2 else ""
            current = Process(
                record.args[0],
                int(record.args[1]),
                int(uid) if uid.isdigit() else None,
                None,
                None,
                [],
                {},
            )
            found[current.component] = current
        elif current is None:
            continue
        elif record.kind in ("EXE", "CWD"):
            value = " ".join(record.args) or None
            setattr(current, record.kind.lower(), value)
        elif record.kind == "ARGV":
            count = int(record.args[0]) if record.args and record.args[0].isdigit() else None
            current.argv = record.lines[:count] if count is not None else _trim(record.lines)
        elif record.kind == "ENV" and record.args == ["unreadable"]:
            current.env_readable = False
        elif record.kind == "ENV":
            for line in record.lines:
                name, eq, value = line.partition("=")
                if eq and name.startswith("ETCD_"):
                    current.env[name] = value
    return found


@dataclass
class ConfigFile:
    label: str
    path: str
    text: str | None  # None: missing or unreadable
    problem: str | None = None


def parse_configs(*sections: Section | None) -> list[ConfigFile]:
    """The configuration files and manifests the probe read (or could not), in order."""
    files: list[ConfigFile] = []
    for section in sections:
        for record in split_records(section):
            if record.kind not in ("FILE", "MISSING", "UNREADABLE") or len(record.args) < 2:
                continue
            label, path = record.args[0], " ".join(record.args[1:])
            if record.kind == "FILE":
                text = "\n".join(record.lines)
                files.append(ConfigFile(label, path, text[:-1] if text.endswith("\n") else text))
            else:
                problem = (
                    "it does not exist"
                    if record.kind == "MISSING"
                    else "the auditing user may not read it (audit as root)"
                )
                files.append(ConfigFile(label, path, None, problem))
    return files


def _trim(lines: list[str]) -> list[str]:
    while lines and lines[-1] == "":
        lines = lines[:-1]
    return lines


def _load_document(text: str) -> Any:
    """A YAML or JSON document (the first one of a stream)."""
    docs = [d for d in safe_load_all(text) if d is not None]
    return docs[0] if docs else {}


# -- static pod manifests ---------------------------------------------------------------------


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


# -- components -------------------------------------------------------------------------------


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
        return ks.simple_settings(ks.SCHEDULER_DEFAULTS, flags), {}
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


# -- files --------------------------------------------------------------------------------------


@dataclass
class StatPlan:
    """What phase 2 reads and stats: derived from phase 1 alone, so that the collector
    and the deriver agree on every path."""

    reads: list[tuple[str, str, int | None]] = field(default_factory=list)  # label, path, pid
    stats: list[tuple[str, int | None]] = field(default_factory=list)  # path, pid
    trees: list[str] = field(default_factory=list)
    candidates: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)


def _node(sections: dict[str, Section], errors: dict[str, str] | None = None) -> dict[str, Any]:
    """Phase-1 view shared by planning and deriving: processes, configs, manifests."""
    errors = {} if errors is None else errors
    processes = parse_processes(sections.get("k8s.processes"))
    files = parse_configs(sections.get("k8s.configs"), sections.get("k8s.referenced"))
    pods = parse_manifests(files, errors)
    components = {
        name: derive_component(name, processes.get(name), pods.get(name), files, errors)
        for name in COMPONENTS
    }
    return {"processes": processes, "files": files, "pods": pods, "components": components}


def plan_phase2(sections: dict[str, Section], node: dict[str, Any] | None = None) -> StatPlan:
    """Files named only by a static pod manifest (their component is not running) to read,
    and every path to stat, with the process whose view of the filesystem counts."""
    node = node or _node(sections)
    plan = StatPlan()
    read_labels = {f.label for f in node["files"]}
    api = node["components"]["apiserver"]
    if api["source"] == "manifest":
        for label, flag in (
            ("apiserver.encryption", "encryption-provider-config"),
            ("apiserver.authorization", "authorization-config"),
            ("apiserver.authentication", "authentication-config"),
        ):
            if api["flags"].get(flag) and label not in read_labels:
                plan.reads.append((label, api["flags"][flag], None))
    plan.candidates = file_candidates(node, sections)
    for options in plan.candidates.values():
        plan.stats.extend(options)
    plan.stats = list(dict.fromkeys(plan.stats))
    plan.trees = [KUBEADM["pki_dir"], *cni_dirs(node)]
    return plan


def cni_dirs(node: dict[str, Any]) -> list[str]:
    """Where CNI configuration lives: the kubelet's legacy --cni-conf-dir, the standard
    directory, and the host-local IPAM state."""
    dirs = list(CNI_DIRS)
    legacy = node["components"]["kubelet"]["flags"].get("cni-conf-dir")  # before 1.24
    if legacy:
        dirs.insert(0, legacy)
    return list(dict.fromkeys(dirs))


def file_candidates(
    node: dict[str, Any], sections: dict[str, Section]
) -> dict[str, list[tuple[str, int | None]]]:
    """Each file name -> the paths it may have (the first that exists wins), each with the
    pid through whose root it is seen. No entry: the thing has no location here."""
    comps = node["components"]
    pods: dict[str, ManifestPod] = node["pods"]
    processes: dict[str, Process] = node["processes"]
    found: dict[str, list[tuple[str, int | None]]] = {}

    def from_setting(component: str, key: str) -> tuple[str, int | None] | None:
        facts = comps[component]
        value = (facts.get("settings") or {}).get(key)
        if not value:
            return None
        process = processes.get(component)
        base = process.cwd if process else None
        path = _resolve(value, base)
        return (path, process.pid if process else None) if path else None

    manifest_dir = KUBEADM["manifests"]
    kubelet_static = (comps["kubelet"].get("settings") or {}).get("pod-manifest-path")
    if kubelet_static:
        manifest_dir = kubelet_static
    for component, file_name in (
        ("apiserver", "kube-apiserver"),
        ("controller_manager", "kube-controller-manager"),
        ("scheduler", "kube-scheduler"),
        ("etcd", "etcd"),
    ):
        pod = pods.get(component)
        path = pod.path if pod else posixpath.join(manifest_dir, f"{file_name}.yaml")
        found[f"{component}_manifest"] = [(path, None)]

    etcd_dir = from_setting("etcd", "data-dir") if comps["etcd"]["source"] else None
    found["etcd_data_dir"] = [etcd_dir or (KUBEADM["etcd_data_dir"], None)]
    found["admin_conf"] = [(KUBEADM["admin_conf"], None)]
    found["super_admin_conf"] = [(KUBEADM["super_admin_conf"], None)]
    for component, name in (
        ("scheduler", "scheduler_kubeconfig"),
        ("controller_manager", "controller_manager_kubeconfig"),
    ):
        named = from_setting(component, "kubeconfig") if comps[component]["source"] else None
        found[name] = [named or (KUBEADM[name], None)]

    units = [(path, None) for path in _unit_paths(sections.get("host.units"))]
    found["kubelet_service"] = list(dict.fromkeys(units + [(p, None) for p in KUBELET_UNITS]))

    kubelet = comps["kubelet"]
    if kubelet["running"]:
        for name, key in (
            ("kubelet_kubeconfig", "kubeconfig"),
            ("kubelet_config", "config"),
            ("kubelet_client_ca", "client-ca-file"),
        ):
            named = from_setting("kubelet", key)
            if named:
                found[name] = [named]
    else:  # not running: where kubeadm would put them
        for name in ("kubelet_kubeconfig", "kubelet_config", "kubelet_client_ca"):
            found[name] = [(KUBEADM[name], None)]
    proxy_kubeconfig = from_setting("proxy", "kubeconfig") if comps["proxy"]["running"] else None
    if proxy_kubeconfig:
        found["proxy_kubeconfig"] = [proxy_kubeconfig]
    found["pki_dir"] = [(KUBEADM["pki_dir"], None)]
    return found


def _unit_paths(section: Section | None) -> list[str]:
    """Unit files systemd reports for the kubelet (kubeadm's drop-in first)."""
    paths: list[str] = []
    unit = None
    for line in (section.output if section and section.rc == 0 else "").splitlines():
        key, _, value = line.partition("=")
        if key == "Id":
            unit = value
        elif unit == "kubelet.service" and key in ("DropInPaths", "FragmentPath") and value:
            paths.extend(value.split())
    drop_ins = [p for p in paths if p.endswith(".conf")]
    return drop_ins + [p for p in paths if p not in drop_ins]


def parse_stats(
    section: Section | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]] | None]]:
    """Named stat records by path, and the files found below each walked directory
    (None for a directory that does not exist)."""
    named: dict[str, dict[str, Any]] = {}
    trees: dict[str, list[dict[str, Any]] | None] = {}
    root = None
    for line in (section.output if section else "").splitlines():
        parts = line.split("\t")
        try:
            if parts[0] == "S" and len(parts) >= 8:
                named[parts[1]] = stat_record(parts[1], parts[3:8], parts[2] or None)
            elif parts[0] == "A" and len(parts) >= 2:
                named[parts[1]] = {"path": parts[1], "exists": False, "error": None}
            elif parts[0] == "E" and len(parts) >= 2:
                named[parts[1]] = {
                    "path": parts[1],
                    "exists": None,
                    "error": "\t".join(parts[2:]) or "stat failed",
                }
            elif parts[0] == "D" and len(parts) >= 2:
                root = parts[1]
                trees[root] = []
            elif parts[0] == "DA" and len(parts) >= 2:
                trees[parts[1]] = None
            elif parts[0] == "T" and len(parts) >= 7 and root is not None:
                record = stat_record(parts[1], parts[2:7])
                record["cis"] = {"name": parts[1], "dir": root}
                walked = trees.get(root)
                if walked is not None:
                    walked.append(record)
        except (ValueError, IndexError):
            continue
    return named, trees


def derive_files(
    sections: dict[str, Section], plan: StatPlan, errors: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``files`` (each name's first existing candidate), ``pki_files`` and ``cni_files``."""
    stat_section = sections.get("host.stat")
    if stat_section is None:
        reason = "the stat batch (second remote command) did not run"
        for fact in ("files", "pki_files", "cni_files"):
            errors[fact] = reason
    named, trees = parse_stats(stat_section)
    files: dict[str, Any] = {}
    for name in FILE_NAMES:
        options = plan.candidates.get(name)
        if not options:
            files[name] = None  # no location on this node
            continue
        records = [
            named.get(path) or {"path": path, "exists": None, "error": "path was not examined"}
            for path, _ in options
        ]
        files[name] = next((r for r in records if r.get("exists")), records[0])
    pki = trees.get(KUBEADM["pki_dir"]) or []
    cni = [record for root in plan.trees[1:] for record in trees.get(root) or []]
    return files, pki, cni


# -- everything ---------------------------------------------------------------------------------


def binary_versions(sections: dict[str, Section]) -> dict[str, str]:
    """What ``--version`` answered, per binary (``kubelet``, ``kube-apiserver``)."""
    section = sections.get("k8s.version")
    answers = {}
    for line in (section.output if section else "").splitlines():
        binary, _, text = line.partition(" ")
        match = re.search(r"v\d+\.\d+\.\d+\S*", text)
        if match:
            answers[binary] = match.group(0)
    return answers


def node_version(sections: dict[str, Section]) -> str | None:
    """The node's Kubernetes version: the kubelet's, else the API server's (``--version``
    of the running binary, else of the one on the PATH), else the image tag of the API
    server's static pod."""
    answers = binary_versions(sections)
    if answers.get("kubelet") or answers.get("kube-apiserver"):
        return answers.get("kubelet") or answers.get("kube-apiserver")
    pod = parse_manifests(parse_configs(sections.get("k8s.configs")), {}).get("apiserver")
    match = re.search(r":(v\d+\.\d+\.\d+\S*)$", pod.image or "") if pod else None
    return match.group(1) if match else None


def _roles(sections: dict[str, Section]) -> list[str]:
    section = sections.get("k8s.target")
    if section is None:
        return []
    try:
        return [str(r) for r in json.loads(section.output).get("roles") or []]
    except (ValueError, AttributeError):
        return []


def _why(sections: dict[str, Section], name: str) -> str:
    section = sections.get(name)
    if section is None:
        return f"{name} was not collected"
    text = (section.stderr or section.output).strip().splitlines()
    return f"{name} failed (exit {section.rc}): {text[-1] if text else 'no output'}"


def derive(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    """All facts of a Kubernetes node from its probe sections; errors say what is missing."""
    errors: dict[str, str] = {}
    processes_section = sections.get("k8s.processes")
    if processes_section is None or processes_section.rc != 0:
        errors["k8s"] = _why(sections, "k8s.processes")
    node = _node(sections, errors)
    components = node["components"]
    roles = _roles(sections)
    _expect_role_components(components, roles, errors)
    files, pki_files, cni_files = derive_files(sections, plan_phase2(sections, node), errors)
    version = node_version(sections)
    detected = [
        role
        for role, names in ROLE_COMPONENTS.items()
        if any(components[n]["source"] for n in names)
    ]
    uid = sections.get("id")
    audit_uid = int(uid.output.strip()) if uid and uid.output.strip().isdigit() else None
    k8s = {
        "components": components,
        "kubelet": _kubelet_facts(components["kubelet"], node["files"], sections),
        "proxy": _proxy_facts(components["proxy"], node["files"], errors),
        "encryption": derive_encryption(components["apiserver"], node["files"]),
        "version": version,
        "roles": roles,
        "detected_roles": detected,  # worker: a kubelet runs here
        "audit_uid": audit_uid,
    }
    summary = {
        "platform_version": version,
        "roles": roles,
        "detected_roles": detected,
        "components_running": [n for n, c in components.items() if c["running"]],
        "os": _os_name(sections.get("host.os")),
        "audit_uid": audit_uid,
    }
    values = {
        "_evidence_keys": sorted(sections),
        "k8s": k8s,
        "files": files,
        "pki_files": pki_files,
        "cni_files": cni_files,
        "summary": summary,
    }
    return values, errors


def _expect_role_components(
    components: dict[str, Any], roles: list[str], errors: dict[str, str]
) -> None:
    """A component the node's roles imply but the node lacks: its controls cannot be
    judged (ERROR with this reason), rather than judged on nothing."""
    for role in roles:
        for name in ROLE_COMPONENTS.get(role, ()):
            if components[name]["source"] is None:
                errors.setdefault(
                    f"k8s.components.{name}",
                    f"{COMPONENTS[name]} is neither running on this node nor described by a "
                    f"static pod manifest, yet the inventory gives the node the role {role}",
                )


def _kubelet_facts(
    kubelet: dict[str, Any], files: list[ConfigFile], sections: dict[str, Section]
) -> dict[str, Any]:
    config, path = kubelet_config(files, {})  # its errors are already recorded
    settings = kubelet.get("settings") or {}
    return {
        "config_file": path or kubelet["flags"].get("config"),
        "config": config,
        "config_dir": kubelet["flags"].get("config-dir"),
        "kubeconfig": settings.get("kubeconfig"),
        "client_ca_file": settings.get("client-ca-file") or None,
        "version": binary_versions(sections).get("kubelet") if kubelet["running"] else None,
    }


def _proxy_facts(
    proxy: dict[str, Any], files: list[ConfigFile], errors: dict[str, str]
) -> dict[str, Any]:
    config_file = next((f for f in files if f.label == "proxy.config"), None)
    return {
        "kubeconfig": (proxy.get("settings") or {}).get("kubeconfig") or None,
        "config_file": proxy["flags"].get("config"),
        "config": _config_doc(config_file, "k8s.proxy.config", errors),
    }


def _os_name(section: Section | None) -> str | None:
    for line in (section.output if section else "").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip('"')
    return None
