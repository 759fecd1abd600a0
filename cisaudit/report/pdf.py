"""The PDF report: the context rendered through ``report.pdf.html.j2`` by weasyprint."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jinja2

from cisaudit.report.context import Attachment
from cisaudit.report.fonts import warn_if_no_cjk_font, warn_if_slow_subsetting
from cisaudit.report.paths import builtin_template_dir
from cisaudit.report.templates import render_template

PDF_VARIANT = "pdf/a-3b"  # PDF/A-3 lets the report carry results and evidence as files


def load_weasyprint() -> Any:
    """weasyprint, imported only when a PDF is asked for (it is heavy). Its Python package is
    a dependency of cisaudit; the Pango library it loads is the system's, and its absence
    becomes one line that says what to install instead of a stack of ctypes errors."""
    try:
        import weasyprint
    except ImportError as exc:
        raise OSError(
            f"PDF reports need weasyprint ({exc}): pip install 'weasyprint>=60'"
        ) from None
    except OSError as exc:
        raise OSError(
            "PDF reports need the Pango library: apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0 (Debian/Ubuntu), dnf install pango (Fedora/RHEL); {exc}"
        ) from None
    return weasyprint


def render_pdf(
    context: dict[str, Any],
    out: Path,
    *,
    env: jinja2.Environment,
    attachments: Sequence[Attachment] = (),
    template: str = "report.pdf.html.j2",
) -> Path:
    """Write the PDF report for ``context`` to ``out`` with ``attachments`` embedded
    (``template``: the fleet or full report, or a ``--split-by`` detail report)."""
    weasyprint = load_weasyprint()

    if "zh" in context["langs"]:
        warn_if_no_cjk_font()
    warn_if_slow_subsetting()
    html = render_template(env, template, context)
    files = [
        weasyprint.Attachment(
            string=a.data, name=a.name, description=a.description, relationship=a.relationship
        )
        for a in attachments
    ]
    with _no_cyclic_gc(), _quiet("weasyprint", "fontTools"):
        # Reports never reach the network: a template (or a string that slipped through)
        # pointing at http(s) gets nothing. Logos are data: URIs; local files stay allowed.
        fetcher = weasyprint.URLFetcher(allowed_protocols=("data", "file"))
        document = weasyprint.HTML(
            string=html, base_url=str(builtin_template_dir()), url_fetcher=fetcher
        )
        document.write_pdf(
            out,
            attachments=files,
            pdf_variant=PDF_VARIANT,
            custom_metadata=True,
            font_config=_font_config(html),
        )
    return out


_fonts = threading.local()


def _font_config(html: str) -> Any:
    """One fontconfig set-up per process and thread, kept across reports.

    Left to itself weasyprint loads the system's fonts afresh for every document, and
    Pango's caches start cold each time: per-target reports (``--split-by``) spent 7 % of
    their time there. The set-up is not shared between threads (Pango's font map is not
    thread-safe) nor inherited by a forked worker. A template with ``@font-face`` rules
    gets a fresh one each time, so that the fonts it adds do not pile up in the process.
    """
    if "@font-face" in html:
        return None
    held = getattr(_fonts, "config", None)
    if held is None or held[0] != os.getpid():
        from weasyprint.text.fonts import FontConfiguration

        held = _fonts.config = (os.getpid(), FontConfiguration())
    return held[1]


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Weasyprint logs every CSS property it skips; a report run is not the place for that."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector while weasyprint builds its box tree.

    The tree holds millions of objects for a large fleet and is freed as a whole
    afterwards; full collections over it cost a third of the render time (measured by
    bench/bench_report.py) and reclaim almost nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
