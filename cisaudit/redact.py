"""Keep secrets out of evidence, results and reports.

Container and image environments routinely carry passwords and tokens; an audit must
record that a variable exists, never its value. Redaction happens once, when evidence
is collected, so nothing downstream (bundle, results, reports) can leak it.
"""

from __future__ import annotations

import json
import re
from typing import Any

SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|cookie|"
    r"session|access[_-]?key|client[_-]?secret|dsn|conn(ection)?[_-]?string)",
    re.IGNORECASE,
)
MASK = "<redacted>"


def redact_assignment(text: str) -> str:
    """``NAME=value`` -> ``NAME=<redacted>`` when NAME looks like it holds a secret."""
    name, sep, value = text.partition("=")
    if sep and value and SECRET_NAME.search(name):
        return f"{name}={MASK}"
    return text


def _redact_config(config: dict[str, Any] | None) -> None:
    if isinstance(config, dict) and isinstance(config.get("Env"), list):
        config["Env"] = [redact_assignment(str(item)) for item in config["Env"]]


def redact_inspect_json(text: str) -> str:
    """Redact Env of every object in a ``docker inspect`` / ``image inspect`` JSON array."""
    try:
        objects = json.loads(text)
    except json.JSONDecodeError:
        return text
    if not isinstance(objects, list):
        return text
    for obj in objects:
        if isinstance(obj, dict):
            _redact_config(obj.get("Config"))
            _redact_config(obj.get("ContainerConfig"))
    return json.dumps(objects, indent=1)


def redact_lines(text: str) -> str:
    """Redact ``NAME=value`` assignments line by line (``file:NAME=value`` grep output too)."""
    out = []
    for line in text.splitlines(keepends=True):
        prefix, colon, rest = line.partition(":") if line.startswith("/") else ("", "", line)
        body = rest.rstrip("\n")
        stripped = body.lstrip()
        lead = body[: len(body) - len(stripped)]
        export = "export " if stripped.startswith("export ") else ""
        redacted = lead + export + redact_assignment(stripped.removeprefix("export "))
        out.append(prefix + colon + redacted + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


def _redact_env_list(env: Any) -> None:
    for entry in env if isinstance(env, list) else []:
        if isinstance(entry, dict) and "value" in entry and SECRET_NAME.search(str(entry.get("name", ""))):
            entry["value"] = MASK


def _redact_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _redact_env_list(container.get("env"))


def redact_k8s_objects(obj: Any) -> None:
    """Literal env values with secret-looking names, in pods and pod templates, in place."""
    if isinstance(obj, list):
        for item in obj:
            redact_k8s_objects(item)
        return
    if not isinstance(obj, dict):
        return
    if isinstance(obj.get("items"), list):
        redact_k8s_objects(obj["items"])
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _redact_pod_spec(spec)
        template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
        if isinstance(template, dict):
            _redact_pod_spec(template.get("spec"))


def redact_k8s_json(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    redact_k8s_objects(data)
    return json.dumps(data)
