"""The Jinja environment shared by the HTML and PDF renderers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cisaudit.report.paths import builtin_template_dir


@functools.lru_cache(maxsize=8)
def environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Templates from ``template_dir`` first (user overrides), then the built-in ones.

    Autoescaping is always on: every host, container and evidence string is user data.
    Undefined names fail loudly so that a template and its context cannot drift apart.
    One environment per directory and process: it keeps the compiled templates (and
    reloads one whose file changed), which per-target reports would otherwise compile
    again each time.
    """
    search = [str(template_dir)] if template_dir else []
    search.append(str(builtin_template_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["css_string"] = css_string
    return env


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string (for ``content:``); safe inside ``<style>``.

    Everything but plain letters, digits, spaces and common punctuation becomes a CSS
    hex escape, so quotes, backslashes and ``</style>`` cannot break out.
    """
    out = []
    for ch in str(value):
        if ch.isalnum() or ch in " .,:;-_/()·|":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")
    return Markup('"' + "".join(out) + '"')


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or name
        line = getattr(exc, "lineno", None)
        raise RuntimeError(f"report template {where}{f':{line}' if line else ''}: {exc}") from exc
