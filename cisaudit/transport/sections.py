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
    """Split probe output into sections by the nonce-tagged boundary lines.

    Boundaries are found with ``str.find`` and each section is cut out whole: a probe's
    output is about 100 KB, and walking it line by line cost more than the SSH that
    brought it."""
    commands = _commands(script)
    sections: dict[str, Section] = {}
    tag = nonce + " "
    boundaries: list[tuple[int, int, list[str]]] = []  # (line start, line end, fields)
    at = 0 if text.startswith(tag) else text.find("\n" + tag)
    while at != -1:
        start = at if at == 0 and text.startswith(tag) else at + 1
        stop = text.find("\n", start)
        stop = len(text) if stop == -1 else stop
        boundaries.append((start, stop, text[start + len(tag) : stop].split(" ")))
        at = text.find("\n" + tag, stop)
    name: str | None = None
    out_from = err_from = out_to = -1
    for start, stop, fields in boundaries:
        kind, rest = fields[0], fields[1:]
        if kind == "BEGIN" and rest:
            name, out_from, out_to, err_from = rest[0], stop + 1, -1, -1
        elif kind == "STDERR" and name is not None and out_to == -1:
            out_to, err_from = start, stop + 1
        elif kind == "END" and name is not None:
            rc = int(rest[1]) if len(rest) > 1 and rest[1].lstrip("-").isdigit() else -1
            out_end = out_to if out_to != -1 else start
            sections[name] = Section(
                command=commands.get(name, name),
                rc=rc,
                output=_between(text, out_from, out_end),
                stderr=_between(text, err_from, start) if err_from != -1 else "",
            )
            name = None
    return sections


def _between(text: str, start: int, end: int) -> str:
    """The lines from ``start`` up to the boundary line at ``end`` (its newline dropped)."""
    if end <= start:
        return ""
    return text[start : end - 1]


def _commands(script: str) -> dict[str, str]:
    """Each section's command, from its ``sec NAME COMMAND`` line in the script."""
    found: dict[str, str] = {}
    for line in script.splitlines():
        if line.startswith("sec "):
            name, _, command = line[4:].partition(" ")
            found.setdefault(name, command.strip())
    return found
