"""The SHA-256 of a text, as evidence records it.

Text is hashed as UTF-8. Bytes that were not UTF-8 when read (kept as surrogate escapes)
hash as those bytes; a lone surrogate that only a hand-made JSON file can hold hashes as
its UTF-8 form, so that every text has a hash and no reader crashes on one.
"""

from __future__ import annotations

import hashlib


def text_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text_bytes(text)).hexdigest()
