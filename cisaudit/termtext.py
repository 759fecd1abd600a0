"""Foreign text on a terminal: printed literally, never as markup or control codes.

Host names, inventory keys, SSH banners, labels and error messages come from places an
attacker may write to. The terminal must show them as they are: ``[blink]x`` prints as
``[blink]x`` (rich markup is never interpreted) and an escape sequence prints as
``\\x1b[2J`` (it never reaches the terminal as a control code).
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.text import Text

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides
# that reorder how a line reads (CVE-2021-42574 style).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: object, *, one_line: bool = False) -> str:
    """``value`` as text with every control character shown as an escape (``\\x1b``)."""
    text = _CONTROL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", str(value)
    )
    return text.replace("\n", "\\n").replace("\t", " ") if one_line else text


def literal(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """A rich Text that shows ``value`` exactly (no markup, no control codes)."""
    return Text(printable(value, one_line=one_line), style=style)


def console(*, stderr: bool = False) -> Console:
    """A console on which plain strings are never parsed as markup or highlighted."""
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False)
