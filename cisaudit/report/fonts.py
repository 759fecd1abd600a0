"""Fonts the PDF needs: Chinese text must render with real glyphs, never boxes."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys

INSTALL_HINT = (
    "no Chinese (CJK) font found: Chinese text in the PDF would print as boxes. "
    "Install one, e.g. `apt-get install fonts-noto-cjk` (scripts/setup.sh does it)."
)


@functools.cache
def cjk_font_available() -> bool:
    """Whether fontconfig knows a font covering Simplified Chinese."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run(
        [fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


def warn_if_no_cjk_font() -> None:
    if not cjk_font_available():
        print(f"cisaudit: warning: {INSTALL_HINT}", file=sys.stderr)


def warn_if_slow_subsetting() -> None:
    """Without HarfBuzz's subsetter weasyprint falls back to fontTools, which takes
    seconds per CJK font face on every PDF."""
    from weasyprint.text import ffi

    if getattr(ffi, "harfbuzz_subset", None) is None:
        print(
            "cisaudit: warning: libharfbuzz-subset is missing: PDF fonts are subset slowly. "
            "Install it (`apt-get install libharfbuzz-subset0`).",
            file=sys.stderr,
        )
