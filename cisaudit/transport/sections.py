"""The framing every probe shares: shell helpers to run sections in parallel and print
them between nonce-tagged boundaries (``sections.sh``), and the parser for that output."""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources

from cisaudit.evidence import Section, TargetEvidence
from cisaudit.targets import Target


@functools.cache
def load_probe(package: str, name: str = "probe.sh") -> str:
    """A kind's probe script (``name`` in ``package``) with the shared framing in front of
    it; the nonce line goes first. Read on first use, not when the module is imported."""
    framing = resources.files(__package__).joinpath("sections.sh").read_text(encoding="utf-8")
    body = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return f"{framing}\n{body}"


def new_evidence(target: Target) -> TargetEvidence:
    return TargetEvidence(
        name=target.name,
        kind=target.kind,
        address=target.address,
        groups=list(target.groups),
        roles=list(target.roles),
        collected_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        params=target.params(),
        kind_source=getattr(target, "kind_source", "inventory"),
    )


def parse_sections(text: str, nonce: str, script: str) -> dict[str, Section]:
    """Split probe output into sections by the nonce-tagged boundary lines."""
    sections: dict[str, Section] = {}
    name: str | None = None
    part: str | None = None
    out: list[str] = []
    err: list[str] = []
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
