"""Collect a Docker host's evidence in two remote commands, whatever its size.

Phase 1 (``probe.sh``) gathers engine, daemon, container, image, network, process, mount,
audit and unit data in one batched shell run. Phase 2 stats every path that phase 1
discovered (binaries, units, sockets, config and TLS files). Round trips stay at two
as controls and containers grow.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shlex
import time
from importlib import resources

from cisaudit.collect.evidence import Section, TargetEvidence
from cisaudit.collect.transport import Transport, TransportError
from cisaudit.derive_docker import paths_to_stat
from cisaudit.redact import redact_inspect_json, redact_lines
from cisaudit.targets import Target

PROBE = resources.files("cisaudit.collect").joinpath("probe.sh").read_text(encoding="utf-8")


def parse_sections(text: str, nonce: str, script: str) -> dict[str, Section]:
    """Split probe output into sections by the nonce-tagged boundary lines."""
    sections: dict[str, Section] = {}
    name, part, out, err = None, None, [], []
    for line in text.split("\n"):
        if line.startswith(nonce + " "):
            _, tag, *rest = line.split(" ")
            if tag == "BEGIN":
                name, part, out, err = rest[0], "out", [], []
            elif tag == "STDERR":
                part = "err"
            elif tag == "END" and name is not None:
                rc = int(rest[1]) if len(rest) > 1 and rest[1].lstrip("-").isdigit() else -1
                sections[name] = Section(
                    command=_command_of(script, name),
                    rc=rc,
                    output="\n".join(out),
                    stderr="\n".join(err),
                )
                name = None
            continue
        if name is not None:
            (out if part == "out" else err).append(line)
    return sections


def _command_of(script: str, name: str) -> str:
    marker = f"sec {name} "
    for line in script.splitlines():
        if line.startswith(marker):
            return line[len(marker) :].strip()
    return name


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
    evidence = TargetEvidence(
        name=target.name,
        kind=target.kind,
        address=target.address,
        groups=list(target.groups),
        roles=list(target.roles),
        collected_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    nonce = "==CISAUDIT:" + secrets.token_hex(8)
    script = f"CISAUDIT_NONCE={nonce}\n{PROBE}"
    try:
        done = transport.run(script, timeout=target.command_timeout)
        sections = parse_sections(done.stdout, nonce, PROBE)
        if not sections:
            reason = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.rc}")[:500]
            raise TransportError(f"the probe produced no output: {reason}")
        _redact(sections)
        evidence.sections.update(sections)
        paths = paths_to_stat(sections)
        if paths:
            done = transport.run(stat_script(nonce, paths), timeout=target.command_timeout)
            evidence.sections.update(parse_sections(done.stdout, nonce, ""))
            evidence.sections["host.stat"].command = "stat -L -c '%f %u %g %U %G' " + " ".join(
                shlex.quote(p) for p in dict.fromkeys(paths.values())
            )
    except TransportError as exc:
        evidence.error = str(exc)
    finally:
        evidence.remote_calls = transport.calls
        evidence.duration_s = round(time.monotonic() - started, 3)
    return evidence


def _redact(sections: dict[str, Section]) -> None:
    """Secrets never reach the evidence: container/image env values, env-file assignments."""
    for name in ("docker.inspect", "docker.images"):
        if name in sections:
            section = sections[name]
            sections[name] = Section(section.command, section.rc, redact_inspect_json(section.output),
                                     section.stderr)
    if "host.environment" in sections:
        section = sections["host.environment"]
        sections["host.environment"] = Section(section.command, section.rc,
                                               redact_lines(section.output), section.stderr)
