"""Collect a Docker host's evidence in two remote commands, whatever its size.

Phase 1 (``probe.sh``) gathers engine, daemon, container, image, network, process, mount,
audit and unit data in one batched shell run. Phase 2 stats every path that phase 1
discovered (binaries, units, sockets, config and TLS files). Round trips stay at two
as controls and containers grow.
"""

from __future__ import annotations

import secrets
import shlex
import time

from cisaudit.evidence import Section, TargetEvidence
from cisaudit.kinds.docker.derive import paths_to_stat
from cisaudit.kinds.docker.derive.engine import engine_version  # noqa: F401 (the Kind entry)
from cisaudit.redact import (
    Redactor,
    redact_argv,
    redact_config_lines,
    redact_document,
    redact_env_lines,
    redact_json_lines,
    redact_json_text,
    redact_sections,
    scrub_text,
)
from cisaudit.targets import Target
from cisaudit.transport import Transport, TransportError
from cisaudit.transport.sections import load_probe, new_evidence, parse_sections


def probe() -> str:
    return load_probe("cisaudit.kinds.docker")


def stat_script(nonce: str, paths: dict[str, str]) -> str:
    quoted = " ".join(shlex.quote(p) for p in dict.fromkeys(paths.values()))
    return (
        f"CISAUDIT_NONCE={nonce}\nexport LC_ALL=C\n"
        f"printf '\\n%s BEGIN host.stat\\n' \"$CISAUDIT_NONCE\"\n"
        f"for p in {quoted}; do\n"
        '  if [ -e "$p" ] || [ -L "$p" ]; then\n'
        '    s=$(stat -L -c \'%f\t%u\t%g\t%U\t%G\' -- "$p" 2>&1) && printf \'S\\t%s\\t%s\\t%s\\n\' "$p" "$(readlink -f -- "$p")" "$s" '
        '|| printf \'E\\t%s\\t%s\\n\' "$p" "$s"\n'
        "  else printf 'A\\t%s\\n' \"$p\"; fi\n"
        "done\n"
        'printf \'\\n%s STDERR host.stat\\n\\n%s END host.stat 0\\n\' "$CISAUDIT_NONCE" "$CISAUDIT_NONCE"\n'
    )


def collect_docker_host(target: Target, transport: Transport) -> TargetEvidence:
    """Run both phases; a transport failure becomes ``error`` on the evidence, not an exception."""
    started = time.monotonic()
    evidence = new_evidence(target)
    nonce = "==CISAUDIT:" + secrets.token_hex(8)
    script = f"CISAUDIT_NONCE={nonce}\n{probe()}"
    try:
        done = transport.run(script, timeout=target.command_timeout)
        sections = parse_sections(done.stdout, nonce, probe())
        if not sections:
            reason = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.rc}")[:500]
            raise TransportError(f"the probe produced no output: {scrub_text(reason)}")
        _redact(sections)  # before planning: phase 2 is planned from what derive will see
        evidence.sections.update(sections)
        evidence.platform_version = engine_version(sections)
        paths = paths_to_stat(sections)
        if paths:
            done = transport.run(stat_script(nonce, paths), timeout=target.command_timeout)
            second = parse_sections(done.stdout, nonce, "")
            if "host.stat" in second:  # else derive reports the file facts as errors
                second["host.stat"].command = "stat -L -c '%f %u %g %U %G' " + " ".join(
                    shlex.quote(p) for p in dict.fromkeys(paths.values())
                )
            _redact(second)
            evidence.sections.update(second)
    except TransportError as exc:
        evidence.error = str(exc)
    finally:
        evidence.remote_calls = transport.calls
        evidence.duration_s = round(time.monotonic() - started, 3)
    return evidence


# Process names (``comm``, at most 15 characters) of what cisaudit audits.
_RUNS = {
    "dockerd": "dockerd",
    "kubelet": "kubelet",
    "kube-apiserver": "kube-apiserver",
    "kube-controller": "kube-controller-manager",
    "kube-scheduler": "kube-scheduler",
    "etcd": "etcd",
    "k3s-server": "k3s",
    "k3s-agent": "k3s-agent",
    "k3s": "k3s",
    "rke2": "rke2",
    "rke2-server": "rke2",
    "rke2-agent": "rke2",
}


def detect(sections: dict[str, Section]) -> list[str]:
    """What runs on the host, from the probe's process list."""
    section = sections.get("host.ps")
    found: list[str] = []
    for line in (section.output if section and section.rc == 0 else "").splitlines():
        fields = line.split()
        name = _RUNS.get(fields[3]) if len(fields) >= 4 else None
        if name and name not in found:
            found.append(name)
    return found


def _ok(section: Section | None) -> bool:
    return section is not None and section.rc == 0


def _inspect(text: str) -> str:
    return redact_json_text(text, indent=1)


def _dockerd_cmdline(text: str) -> str:
    """``pid``, ``uid`` and ``exe`` lines, then dockerd's argv one argument per line."""
    lines = text.split("\n")
    return "\n".join(lines[:3] + redact_argv(lines[3:]))


def _daemon_json(text: str) -> str:
    """``path FILE`` then the file: a JSON document, redacted without changing its meaning."""
    first, newline, body = text.partition("\n")
    if not first.startswith("path "):
        return redact_document(text)
    return first + newline + (redact_document(body) if body.strip() else body)


# How each section of a Docker host is redacted (docs/security.md); every other section,
# and every stderr, is scrubbed as free text.
REDACTION: dict[str, Redactor] = {
    "docker.inspect": _inspect,
    "docker.images": _inspect,
    "docker.networks": _inspect,
    "docker.info": redact_json_text,
    "docker.version": redact_json_text,
    "docker.history": redact_json_lines,
    "dockerd.cmdline": _dockerd_cmdline,
    "daemon.json": _daemon_json,
    "host.environment": redact_env_lines,
    "containerd.config": redact_config_lines,
}


def _redact(sections: dict[str, Section]) -> None:
    """Secrets never reach the evidence: the one policy of cisaudit.redact, per section."""
    redact_sections(sections, REDACTION)
