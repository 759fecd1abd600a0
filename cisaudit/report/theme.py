"""The report theme: organisation name, logo and colours from a small YAML file."""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cisaudit.report.paths import builtin_template_dir

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_KEYS = {"org_name", "logo", "footer", "confidential", "colors"}
_LOGO_TYPES = {"image/png", "image/jpeg", "image/svg+xml"}


class ThemeError(ValueError):
    """A theme file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Theme:
    org_name: str = ""
    logo_data_uri: str = ""  # the logo inlined, so HTML reports stay self-contained
    footer: str = ""
    confidential: bool = True
    colors: dict[str, str] = field(default_factory=dict)

    def to_context(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "logo": self.logo_data_uri,
            "footer": self.footer,
            "confidential": self.confidential,
            "colors": dict(self.colors),
        }


def _read(path: Path) -> dict[str, Any]:
    from cisaudit.yamlsrc import SourceError, load_file

    try:
        data = load_file(path) or {}
    except SourceError as exc:
        raise ThemeError(f"cannot read theme: {exc}") from exc
    if not isinstance(data, dict):
        raise ThemeError(f"{path}: a theme is a mapping of keys, got {type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise ThemeError(f"{path}: unknown theme keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    return data


def _logo(path: Path, value: str) -> str:
    logo = (path.parent / value).resolve()
    kind = mimetypes.guess_type(logo.name)[0]
    if kind not in _LOGO_TYPES:
        raise ThemeError(f"{path}: logo {value!r} must be PNG, JPEG or SVG")
    try:
        raw = logo.read_bytes()
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read logo {logo}: {exc}") from exc
    return f"data:{kind};base64,{base64.b64encode(raw).decode()}"


def load_theme(path: Path | None = None) -> Theme:
    """The built-in theme, overlaid with the keys of ``path`` when given."""
    default_path = builtin_template_dir() / "theme.yml"
    merged = _read(default_path)
    colors = dict(merged.get("colors") or {})
    logo_uri = ""
    if path is not None:
        user = _read(path)
        user_colors = user.pop("colors", None) or {}
        if not isinstance(user_colors, dict):
            raise ThemeError(f"{path}: 'colors' must be a mapping of name: '#hex'")
        colors.update(user_colors)
        merged.update(user)
        if user.get("logo"):
            logo_uri = _logo(path, str(user["logo"]))
    bad = {k: v for k, v in colors.items() if not _HEX.match(str(v))}
    if bad:
        where = path or default_path
        raise ThemeError(f"{where}: colours must be '#rgb' or '#rrggbb', got {bad}")
    return Theme(
        org_name=str(merged.get("org_name") or ""),
        logo_data_uri=logo_uri,
        footer=str(merged.get("footer") or ""),
        confidential=bool(merged.get("confidential", True)),
        colors={str(k): str(v) for k, v in colors.items()},
    )
