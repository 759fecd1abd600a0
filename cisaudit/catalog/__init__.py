"""The control catalog: packs of controls, the checks that decide them, and the closed
set of operators checks use. Pure: it reads ``checks/`` and imports no kind, transport
or renderer."""

from cisaudit.catalog.loader import (
    Benchmark,
    Catalog,
    Control,
    control_sort_key,
    default_checks_dir,
    load_catalog,
)

__all__ = ["Benchmark", "Catalog", "Control", "control_sort_key", "default_checks_dir",
           "load_catalog"]
