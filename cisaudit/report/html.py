"""The HTML report: one self-contained file (inline CSS and JS) that works offline."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cisaudit.report.templates import render_template

SCRIPT = "report-html.js"


def render_html(context: dict[str, Any], out: Path, *, env: jinja2.Environment) -> Path:
    """Write the interactive HTML report for ``context`` to ``out``.

    The page's Content-Security-Policy allows only the one inline script whose hash it
    names: even a string that escaped escaping could not run.
    """
    assert env.loader is not None
    script, _, _ = env.loader.get_source(env, SCRIPT)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    page = dict(context, html_script=Markup(script), html_script_sha256=digest)
    out.write_text(render_template(env, "report.html.j2", page), encoding="utf-8")
    return out
