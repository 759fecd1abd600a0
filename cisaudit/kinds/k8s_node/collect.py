"""Collect a Kubernetes node's evidence in two remote commands.

Phase 1 (``probe_k8s.sh``) reads the component processes, the configuration files their
command lines name, the static pod manifests and the versions. Phase 2 (the same script
with ``CISAUDIT_PHASE=2``) reads what only a manifest names and stats every path the node
controls look at, as planned from phase 1 by ``cisaudit.kinds.k8s_node.derive.plan_phase2`` (the
deriver uses the same plan, so both agree on every path). The target's roles are recorded
as a section of their own, so that a bundle re-derives the same facts offline.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time

from cisaudit.evidence import Section, TargetEvidence
from cisaudit.kinds.k8s_node.derive import StatPlan, node_version, plan_phase2, record_prefix
from cisaudit.redact import (
    Redactor,
    redact_argv,
    redact_assignments,
    redact_document,
    redact_sections,
    scrub_text,
)
from cisaudit.targets import Target
from cisaudit.transport import Transport, TransportError
from cisaudit.transport.sections import load_probe, new_evidence, parse_sections


def probe() -> str:
    return load_probe("cisaudit.kinds.k8s_node")


def phase2_script(nonce: str, plan: StatPlan) -> str:
    """The probe in phase 2, with the reads and stats of ``plan`` as shell functions."""

    def call(*words: str | int | None) -> str:
        return "  " + " ".join(shlex.quote(str(w)) for w in words if w is not None) + "\n"

    reads = "".join(call("show", label, path, pid) for label, path, pid in plan.reads)
    stats = "".join(call("st", path, pid) for path, pid in plan.stats)
    stats += "".join(call("tree", root) for root in plan.trees)
    return (
        f"CISAUDIT_NONCE={nonce}\nCISAUDIT_PHASE=2\n"
        f"plan_reads() {{\n{reads}  true\n}}\n"
        f"plan_stats() {{\n{stats}  true\n}}\n"
        f"{probe()}"
    )


def roles_section(target: Target) -> Section:
    return Section(
        command="(the inventory: roles of this node)",
        rc=0,
        output=json.dumps({"roles": list(target.roles)}),
    )


def redact_records(text: str) -> str:
    """A probe section of records (``<nonce>/KIND args`` lines, each followed by its
    lines): a process's arguments (ARGV) argument by argument, the ETCD_* environment
    (ENV) by name, each configuration file or manifest (FILE) as a document whose meaning
    is kept, anything else as free text."""
    lines = text.split("\n")
    prefix = record_prefix(lines)
    if prefix is None:
        return scrub_text(text)
    out: list[str] = []
    kind: str = ""
    body: list[str] = []

    def flush() -> None:
        if kind == "ARGV":
            out.extend(redact_argv(body))
        elif kind == "ENV":
            out.extend(redact_assignments(body))
        elif kind == "FILE":
            out.extend(redact_document("\n".join(body)).split("\n") if body else [])
        else:
            out.extend(scrub_text(line) for line in body)

    for line in lines:
        if line.startswith(prefix) and re.match(r"[A-Z]+( |$)", line[len(prefix) :]):
            flush()
            kind, body = line[len(prefix) :].split(" ")[0], []
            out.append(line)
        else:
            body.append(line)
    flush()
    return "\n".join(out)


# How each section of a Kubernetes node is redacted (docs/security.md); every other
# section, and every stderr, is scrubbed as free text.
REDACTION: dict[str, Redactor] = {
    "k8s.processes": redact_records,
    "k8s.configs": redact_records,
    "k8s.referenced": redact_records,
}


def collect_k8s_node(target: Target, transport: Transport) -> TargetEvidence:
    """Run both phases; a transport failure becomes ``error`` on the evidence, not an exception."""
    started = time.monotonic()
    evidence = new_evidence(target)
    nonce = "==CISAUDIT:" + secrets.token_hex(8)
    try:
        done = transport.run(f"CISAUDIT_NONCE={nonce}\n{probe()}", timeout=target.command_timeout)
        sections = parse_sections(done.stdout, nonce, probe())
        if not sections:
            reason = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.rc}")[:500]
            raise TransportError(f"the probe produced no output: {scrub_text(reason)}")
        redact_sections(sections, REDACTION)  # before planning: as derive will see them
        sections["k8s.target"] = roles_section(target)
        evidence.sections.update(sections)
        evidence.platform_version = node_version(sections)
        plan = plan_phase2(sections)
        done = transport.run(phase2_script(nonce, plan), timeout=target.command_timeout)
        second = parse_sections(done.stdout, nonce, probe())
        if "host.stat" in second:  # else the deriver reports the file facts as errors
            second["host.stat"].command = (
                "stat -L "
                + " ".join(shlex.quote(path) for path, _ in plan.stats)
                + "; find "
                + " ".join(shlex.quote(root) for root in plan.trees)
                + " -type f"
            )
        redact_sections(second, REDACTION)
        evidence.sections.update(second)
    except TransportError as exc:
        evidence.error = str(exc)
    finally:
        evidence.remote_calls = transport.calls
        evidence.duration_s = round(time.monotonic() - started, 3)
    return evidence
