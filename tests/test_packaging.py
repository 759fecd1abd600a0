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


def test_whole_tool_is_core_not_extras() -> None:
    """`pip install cisaudit` gives PDF, signing, the workbook, Kubernetes and engine APIs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {
        d.split(">")[0].split("[")[0].split("=")[0].strip().lower() for d in project["dependencies"]
    }
    for needed in ("weasyprint", "pyhanko", "cryptography", "openpyxl", "kubernetes", "docker"):
        assert needed in core, needed


def test_missing_pango_is_one_line_saying_what_to_install(monkeypatch) -> None:
    import builtins

    import pytest

    from cisaudit.report.pdf import load_weasyprint

    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': No such file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(OSError) as err:
        load_weasyprint()
    message = str(err.value)
    assert "\n" not in message and "apt-get install libpango-1.0-0" in message


def test_executor_names_and_shards() -> None:
    import pytest

    from cisaudit.scale import parse_executor, shard_sizes

    assert parse_executor("local") is None and parse_executor(None) is None
    assert parse_executor("dask://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    for bad in ("dask://", "spark://x:1"):
        with pytest.raises(ValueError):
            parse_executor(bad)
    sizes = shard_sizes(1000, 5)  # a few shards per worker, never one task per host
    assert sum(sizes) == 1000 and len(sizes) == 20
    assert shard_sizes(3, 8) == [1, 1, 1]
    big = shard_sizes(10_000, 2)  # a shard's evidence arrives whole: bounded in size
    assert sum(big) == 10_000 and max(big) == 250 and len(big) == 40
