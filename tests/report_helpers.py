"""Helpers shared by the report tests: the sample runs, and poppler's tools."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

DATA = Path(__file__).resolve().parent / "data" / "report"


def samples() -> ModuleType:
    """``tests/data/report/samples.py`` (sample_run, synthetic_run), loaded by path."""
    spec = importlib.util.spec_from_file_location("report_samples", DATA / "samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def poppler(name: str, *args: str) -> str:
    """The output of a poppler tool (pdftotext, pdfdetach, pdfsig ...); a missing tool
    fails the test, since the reports must be read back by independent tools."""
    if shutil.which(name) is None:
        pytest.fail(f"{name} not found: install poppler-utils (scripts/setup.sh does)")
    return subprocess.run([name, *args], capture_output=True, text=True, check=True).stdout
