"""The evidence file as the reports read it.

A fleet's evidence runs to hundreds of megabytes, so the reports never hold it whole
unless a page prints from it: its SHA-256 is computed in blocks, it is parsed only for
the annex of a small report, and per-target reports (``--split-by``) get their targets
from ``spool``, which walks the file one target at a time and copies each target's
JSON text to a scratch file that workers read by offset.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BLOCK = 1 << 20
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class EvidenceInfo:
    """An evidence file's name, size on disk and SHA-256 (of the bytes as stored)."""

    path: Path
    size: int
    sha256: str


def describe(path: Path) -> EvidenceInfo:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
            size += len(block)
    return EvidenceInfo(path, size, digest.hexdigest())


def parse(path: Path) -> dict[str, Any]:
    """The whole document (for the annex of a small report), or ValueError naming it."""
    raw = path.read_bytes()
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        doc = json.loads(text)
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not a JSON (or .json.gz) evidence file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("targets", {}), dict):
        raise ValueError(f"{path}: an evidence file is an object with a 'targets' mapping")
    return doc


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


class _Reader:
    """JSON values read one at a time from a text stream, holding one value's text."""

    def __init__(self, fh: IO[str], name: str) -> None:
        self.fh, self.name = fh, name
        self.buf, self.pos, self.eof = "", 0, False

    def _more(self, size: int) -> bool:
        chunk = self.fh.read(size)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        while True:
            match = _SPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf) or not self._more(BLOCK):
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise ValueError(
                f"{self.name}: malformed evidence file: expected {char!r}, found "
                f"{found or 'the end of the file'!r}"
            )
        self.pos += 1

    def value(self) -> tuple[Any, str]:
        """The next value and its text. A value cut by the end of the buffer fails to
        decode (or, a number, might decode short), so the buffer grows until the value
        ends before the buffer does or the file ends."""
        self.peek()
        grow = BLOCK
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or not self._more(grow):
                    raise ValueError(f"{self.name}: malformed evidence file: {exc}") from None
                grow *= 2
                continue
            except RecursionError:
                raise ValueError(f"{self.name}: evidence nested too deeply") from None
            if end < len(self.buf) or self.eof or not self._more(grow):
                text = self.buf[self.pos : end]
                self.pos = end
                return value, text
            grow *= 2

    def members(self) -> Iterator[str]:
        """The keys of an object, the reader left at each key's value."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key, _ = self.value()
            if not isinstance(key, str):
                raise ValueError(f"{self.name}: malformed evidence file: a key is not a string")
            self.expect(":")
            yield key
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            return


@dataclass
class Spool:
    """Each target's JSON text, copied to ``path`` and found by ``index``."""

    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    index: dict[str, tuple[int, int]] = field(default_factory=dict)

    def only(self, names: tuple[str, ...]) -> Spool:
        """The same spool indexing ``names`` only (what one worker is sent)."""
        return Spool(self.path, self.meta, {n: self.index[n] for n in names if n in self.index})

    def read(self, names: list[str]) -> dict[str, Any]:
        """An evidence document holding only ``names`` (those the file has)."""
        targets: dict[str, Any] = {}
        with self.path.open("rb") as fh:
            for name in names:
                if name in self.index:
                    offset, length = self.index[name]
                    fh.seek(offset)
                    targets[name] = json.loads(fh.read(length))
        return {**self.meta, "targets": targets}


def spool(source: Path, path: Path) -> Spool:
    """Walk ``source`` one value at a time and copy each target's text to ``path``."""
    found = Spool(path)
    with _open_text(source) as fh, path.open("wb") as out:
        reader = _Reader(fh, str(source))
        for key in reader.members():
            if key != "targets":
                found.meta[key] = reader.value()[0]
                continue
            for name in reader.members():
                _, text = reader.value()
                data = text.encode("utf-8")
                found.index[name] = (out.tell(), len(data))
                out.write(data)
        if reader.peek():
            raise ValueError(f"{source}: malformed evidence file: data after the document")
    return found
