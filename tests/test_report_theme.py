"""Themes and user templates: validated, embedded, overridable."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import pytest

from cisaudit.report import ReportMeta, render
from cisaudit.report.theme import ThemeError, load_theme

DATA = Path(__file__).resolve().parent / "data" / "report"
# A 1x1 PNG, enough to prove the logo is inlined.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _run():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("report_samples", DATA / "samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sample_run()[0]


def test_theme_overrides_and_inlines_the_logo(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(PIXEL)
    theme_file = tmp_path / "theme.yml"
    theme_file.write_text(
        'org_name: "Acme Audit"\nlogo: logo.png\ncolors: {primary: "#123456"}\n', encoding="utf-8"
    )
    theme = load_theme(theme_file)
    assert theme.org_name == "Acme Audit" and theme.colors["primary"] == "#123456"
    assert theme.colors["FAIL"], "unset colours keep their defaults"
    html = render(_run(), tmp_path / "out", formats=["html"], theme=theme_file)[0].read_text()
    assert "data:image/png;base64," in html and "--c-primary: #123456" in html
    assert "Acme Audit" in html


@pytest.mark.parametrize(
    "body, message",
    [
        ('colors: {primary: "red; } body { display: none"}\n', "colours must be"),
        ("logo_url: x\n", "unknown theme keys"),
        ("logo: missing.png\n", "cannot read logo"),
        ("- a list\n", "a theme is a mapping"),
    ],
)
def test_bad_themes_name_the_file(tmp_path: Path, body: str, message: str) -> None:
    theme_file = tmp_path / "bad.yml"
    theme_file.write_text(body, encoding="utf-8")
    with pytest.raises(ThemeError, match=message) as caught:
        load_theme(theme_file)
    assert str(theme_file) in str(caught.value)


def test_user_templates_override_builtin_ones(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "_methodology.html.j2").write_text(
        '<section id="methodology"><h1>House method for {{ meta.client }}</h1></section>',
        encoding="utf-8",
    )
    html = render(
        _run(),
        tmp_path / "out",
        formats=["html"],
        template_dir=templates,
        meta=ReportMeta(client="<Client>"),
    )[0].read_text()
    assert "House method for &lt;Client&gt;" in html
    assert "Executive summary" in html, "templates not overridden stay built-in"


def test_pdf_rendering_never_reaches_the_network(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        templates = tmp_path / "templates"
        templates.mkdir()
        port = server.server_address[1]
        (templates / "_methodology.html.j2").write_text(
            f'<section><img src="http://127.0.0.1:{port}/beacon.png">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css"></section>',
            encoding="utf-8",
        )
        render(_run(), tmp_path / "out", formats=["pdf"], template_dir=templates)
    finally:
        server.shutdown()
    assert hits == [], f"the PDF renderer fetched {hits}"
