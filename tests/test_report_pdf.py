"""The PDF read back with poppler: text, fonts, rendering, escaping, attachments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_helpers import poppler, samples

from cisaudit.report import ReportMeta, render

DATA = Path(__file__).resolve().parent / "data" / "report"
POPPLER = ("pdftotext", "pdffonts", "pdftoppm", "pdfinfo", "pdfdetach")


_samples = samples


_tool = poppler


@pytest.fixture(scope="module")
def bilingual_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = _samples()
    run, evidence = samples.sample_run()
    out = tmp_path_factory.mktemp("pdf")
    evidence_path = out / "evidence.json"
    evidence_path.write_text(json.dumps(evidence, ensure_ascii=False), encoding="utf-8")
    written = render(
        run,
        out / "report",
        formats=["pdf"],
        lang="both",
        evidence_path=evidence_path,
        meta=ReportMeta(org="Acme Audit", client="客户公司", assessor="Zhang San"),
    )
    return next(p for p in written if p.suffix == ".pdf")


def test_text_has_ids_hosts_and_both_languages(bilingual_pdf: Path) -> None:
    samples = _samples()
    text = _tool("pdftotext", "-enc", "UTF-8", str(bilingual_pdf), "-")
    for needle in (
        "5.5",
        "2.2",
        "1.1.3",
        "4.2.1",
        "docker-01",
        "k8s-worker-1",
        "docker-04",
        "执行摘要",
        "Executive summary",
        "各对象检查结果",
        "证据附录",
        "客户公司",
        "CIS Docker Benchmark",
        "1.6.0",
        samples.HOSTILE_HOST,
    ):
        assert needle in text, f"{needle!r} missing from the PDF text"
    # hostile strings (names, evidence output) are printed as text, never read as markup
    assert samples.HOSTILE_CONTAINER in text
    assert "overlay2 <b>&amp;</b>" in text


def test_a_cjk_font_is_embedded(bilingual_pdf: Path) -> None:
    fonts = _tool("pdffonts", str(bilingual_pdf)).splitlines()[2:]
    cjk = [line for line in fonts if "CJK" in line or "Han" in line or "WenQuanYi" in line]
    assert cjk, f"no CJK font in the PDF: {fonts}"
    assert all(line.split()[-5] == "yes" for line in cjk), "CJK font not embedded"


def test_pages_render_to_png(bilingual_pdf: Path, tmp_path: Path) -> None:
    info = _tool("pdfinfo", str(bilingual_pdf))
    assert "A4" in info or "595.28 x 841.89" in info
    _tool(
        "pdftoppm",
        "-png",
        "-r",
        "40",
        "-f",
        "1",
        "-l",
        "3",
        str(bilingual_pdf),
        str(tmp_path / "page"),
    )
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == 3 and all(p.stat().st_size > 2000 for p in pngs)


def test_results_and_evidence_are_attached(bilingual_pdf: Path) -> None:
    listing = _tool("pdfdetach", "-list", str(bilingual_pdf))
    for name in ("results.json", "evidence.json", "cisaudit-manifest.json"):
        assert name in listing


def test_large_fleet_keeps_passes_compact(tmp_path: Path) -> None:
    run, _ = _samples().synthetic_run(hosts=4, controls=117)
    pdf = render(run, tmp_path, formats=["pdf"], lang="en")[0]
    pages = int(
        next(
            line.split()[-1]
            for line in _tool("pdfinfo", str(pdf)).splitlines()
            if line.startswith("Pages:")
        )
    )
    assert pages < 40, f"4 hosts took {pages} pages: passes are not compact"


def test_declares_pdf_a_3(bilingual_pdf: Path) -> None:
    meta = _tool("pdfinfo", "-meta", str(bilingual_pdf))
    assert 'pdfaid:part="3"' in meta


def test_sparse_runs_still_render(tmp_path: Path) -> None:
    """No summary, no sections, a result for a control the run does not describe, and an
    empty fleet: the reports say so instead of failing."""
    from cisaudit.model import Result, Run, Status, TargetResult

    odd = Run(
        run_id="sparse",
        tool_version="0.0.0",
        started_at="",
        finished_at="",
        benchmarks=["custom-pack"],
        options={},
        controls={},
        targets=[
            TargetResult(
                name="h1",
                kind="local",
                benchmark="custom-pack",
                results=[Result("X-1", Status.FAIL, reason="odd")],
            )
        ],
    )
    empty = Run(
        run_id="empty",
        tool_version="0.0.0",
        started_at="",
        finished_at="",
        benchmarks=[],
        options={},
        targets=[],
        controls={},
    )
    for run in (odd, empty):
        written = render(run, tmp_path / run.run_id, formats=["pdf", "html", "csv"], lang="zh")
        assert len(written) == 3
    assert "X-1" in _tool("pdftotext", str(tmp_path / "sparse" / "report.pdf"), "-")


def test_framework_chapter_and_waiver_register(bilingual_pdf: Path) -> None:
    text = " ".join(_tool("pdftotext", "-enc", "UTF-8", str(bilingual_pdf), "-").split())
    # the framework chapter: units, verdicts in the assessor's words, result records
    for needle in (
        "合规框架测评",
        "L3-CES1-17",
        "L3-CES1-01",
        "8.1.4.4 a)",
        "符合情况",
        "结果记录",
        "不符合",
        "部分符合",
        "自动化核查未覆盖的测评项",
        "L3-SMC1-06",
        "经核查 k8s-worker-1",
    ):
        assert needle in text, needle
    # the waiver register: every waiver, its state, approver, ticket and what it covered
    register = text[text.index("风险豁免登记 / Waiver register", text.index("合规框架测评")) :]
    for needle in (
        "W-2026-042",
        "Li Wei (CISO)",
        "OPS-42",
        "2026-12-31",
        "W-2026-043",
        "王芳",
        "W-2025-007",
        "已过期",
        "W-2026-050",
        "未使用",
        "不计豁免得分",
    ):
        assert needle in register, needle


def test_one_font_set_up_per_process_and_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import threading

    from cisaudit.report import pdf

    first = pdf._font_config("<html></html>")
    assert first is not None and pdf._font_config("<p>again</p>") is first
    # a template that brings its own fonts gets a fresh set-up each time
    assert pdf._font_config("<style>@font-face { font-family: x }</style>") is None
    other: list[object] = []
    worker = threading.Thread(target=lambda: other.append(pdf._font_config("<p/>")))
    worker.start()
    worker.join()
    assert other[0] is not None and other[0] is not first
    # a forked worker has another process id: it makes its own
    pid = os.getpid()
    monkeypatch.setattr(pdf.os, "getpid", lambda: pid + 1)
    assert pdf._font_config("<p/>") is not first


def test_reports_rendered_in_turn_read_the_same(tmp_path: Path) -> None:
    """Fonts kept across documents change nothing in them: the same report twice, and a
    Chinese one between, give the same text and fonts."""
    run, evidence = _samples().sample_run()
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence, ensure_ascii=False), encoding="utf-8")
    texts, fonts = [], []
    for n, lang in enumerate(["en", "zh", "en"]):
        written = render(
            run,
            tmp_path / str(n),
            formats=["pdf"],
            lang=lang,
            evidence_path=path,
            meta=ReportMeta(generated_at="2026-12-05T00:00:00Z"),
        )
        pdf_path = next(p for p in written if p.suffix == ".pdf")
        texts.append(_tool("pdftotext", "-enc", "UTF-8", str(pdf_path), "-"))
        fonts.append(
            sorted(
                line.split()[0].split("+")[-1]
                for line in _tool("pdffonts", str(pdf_path)).splitlines()[2:]
            )
        )
    assert texts[0] == texts[2] and fonts[0] == fonts[2]
    assert texts[1] != texts[0]
