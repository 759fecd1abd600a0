"""A wheel carries everything: every subpackage, the catalog and the report templates."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for p in (ROOT / "cisaudit").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_catalog_is_found_without_the_source_tree(monkeypatch, tmp_path: Path) -> None:
    from cisaudit.catalog import default_checks_dir

    monkeypatch.delenv("CISAUDIT_CHECKS", raising=False)
    assert (default_checks_dir() / "packs" / "cis-docker-1.6.0.yaml").is_file()
