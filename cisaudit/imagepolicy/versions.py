"""Package version order as dpkg defines it (epoch, upstream version, revision; ``~``
sorts before everything, letters before other characters). apk's versions (1.2.3-r4)
order the same way for the cases policies name."""

from __future__ import annotations

import re


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b``."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _part(ua, ub) or _part(ra, rb)


def _split(version: str) -> tuple[int, str, str]:
    text = version.strip()
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon and head.isdigit():
        epoch, text = int(head), rest
    # apk: 1.2.3-r4 -> revision r4 read as the number 4
    upstream, dash, revision = text.rpartition("-")
    if not dash:
        upstream, revision = text, ""
    revision = re.sub(r"^r(\d+)$", r"\1", revision)
    return epoch, upstream, revision


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part(a: str, b: str) -> int:
    while a or b:
        na = re.match(r"[^0-9]*", a).group(0)  # type: ignore[union-attr]
        nb = re.match(r"[^0-9]*", b).group(0)  # type: ignore[union-attr]
        for i in range(max(len(na), len(nb))):
            ca = _order(na[i]) if i < len(na) else 0
            cb = _order(nb[i]) if i < len(nb) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a, b = a[len(na) :], b[len(nb) :]
        da = re.match(r"[0-9]*", a).group(0)  # type: ignore[union-attr]
        db = re.match(r"[0-9]*", b).group(0)  # type: ignore[union-attr]
        ia, ib = int(da or 0), int(db or 0)
        if ia != ib:
            return -1 if ia < ib else 1
        a, b = a[len(da) :], b[len(db) :]
    return 0
