"""Write small catalogs (library checks + one pack) for tests that need their own controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEXT = {"en": "text", "zh": "文本"}


def write_pack(
    root: Path,
    pack: dict[str, Any],
    controls: dict[str, dict[str, Any]],
    *,
    defaults: dict[str, Any] | None = None,
) -> Path:
    """``root/packs/<id>.yaml`` and one ``root/library/<id>/<slug>.yaml`` per control.

    ``controls`` maps a control id to its check fields (``check``, ``targets``, ``roles``
    ...); the check's slug is ``<pack id>-<control id>``; texts default to ``TEXT``."""
    library = root / "library" / pack["id"]
    library.mkdir(parents=True, exist_ok=True)
    (root / "packs").mkdir(parents=True, exist_ok=True)
    entries = {}
    for control_id, fields in controls.items():
        slug = f"{pack['id']}-{control_id.replace('.', '-')}"
        check = {
            "id": slug,
            "title": TEXT,
            "automated": True,
            "description": TEXT,
            "rationale": TEXT,
            "audit": TEXT,
            "remediation": TEXT,
            "snippet": {"kind": "shell", "text": "true"},
            **(defaults or {}),
            **fields,
        }
        (library / f"{slug}.yaml").write_text(yaml.safe_dump(check, allow_unicode=True))
        entries[control_id] = {
            "check": slug,
            "section": control_id.split(".")[0],
            "level": 1,
            "profiles": ["Level 1"],
            "cis_assessment": "Automated",
        }
    meta = {**pack, "controls": entries}
    path = root / "packs" / f"{pack['id']}.yaml"
    path.write_text(yaml.safe_dump(meta, allow_unicode=True))
    return path
