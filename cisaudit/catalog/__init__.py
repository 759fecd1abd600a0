"""The control catalog: packs of controls, the library of checks that decide them, and
the closed set of operators checks use. Pure: it reads ``checks/`` and imports no kind,
transport or renderer (the facts contract it validates against is handed to it)."""

from cisaudit.catalog.facts import FactsContract, Subject
from cisaudit.catalog.loader import (
    Benchmark,
    Catalog,
    Check,
    Control,
    Pack,
    Param,
    Selected,
    apply_tailoring,
    control_sort_key,
    default_checks_dir,
    load_catalog,
    tailor_frameworks,
)

__all__ = [
    "Benchmark",
    "Catalog",
    "Check",
    "Control",
    "FactsContract",
    "Pack",
    "Param",
    "Selected",
    "Subject",
    "apply_tailoring",
    "tailor_frameworks",
    "control_sort_key",
    "default_checks_dir",
    "load_catalog",
]
