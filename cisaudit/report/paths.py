"""Where the built-in templates, styles and theme live."""

from __future__ import annotations

from pathlib import Path


def builtin_template_dir() -> Path:
    """``reports/`` of the source tree, or ``cisaudit/_reports`` inside an installed wheel."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "reports", package / "_reports"):
        if (candidate / "report.pdf.html.j2").is_file():
            return candidate
    return package.parent / "reports"
