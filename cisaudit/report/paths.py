"""Where the built-in templates, styles and theme live."""

from __future__ import annotations

from pathlib import Path


def builtin_template_dir() -> Path:
    """The ``reports/`` folder of the source tree: templates, CSS, JS and the default theme."""
    return Path(__file__).resolve().parents[2] / "reports"
