"""Reports: one ``Run`` rendered as PDF, HTML, CSV, JUnit XML and SARIF.

``render`` is the library entry point (``cisaudit report`` and ``cisaudit scan --format``
both call it). Renderers read only the result model; the PDF and HTML share one
documented template context (``cisaudit.report.context``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cisaudit.model import Run
from cisaudit.report.context import Attachment, ReportMeta, SignatureInfo, build_context
from cisaudit.report.i18n import LANG_CHOICES
from cisaudit.report.theme import load_theme

__all__ = ["FORMATS", "OUTPUT_NAMES", "ReportMeta", "render", "load_evidence"]

# Output file name of each format, inside the output directory.
OUTPUT_NAMES = {
    "pdf": "report.pdf",
    "html": "report.html",
    "csv": "results.csv",
    "junit": "junit.xml",
    "sarif": "results.sarif",
}
FORMATS = tuple(OUTPUT_NAMES)


def load_evidence(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The evidence file's bytes as they are (for hashing and embedding) and its content."""
    raw = path.read_bytes()
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        doc = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON (or .json.gz) evidence file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("targets", {}), dict):
        raise ValueError(f"{path}: an evidence file is an object with a 'targets' mapping")
    return raw, doc


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _attachments(run: Run, results_bytes: bytes | None, evidence: tuple[Path, bytes] | None
                 ) -> list[Attachment]:
    from cisaudit.signing import MANIFEST_NAME

    files = [Attachment(
        "results.json",
        results_bytes if results_bytes is not None else
        json.dumps(run.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"),
        "application/json", "cisaudit results (the data this report was made from)")]
    if evidence:
        path, raw = evidence
        files.append(Attachment(path.name, raw,
                                "application/gzip" if raw[:2] == b"\x1f\x8b" else "application/json",
                                "cisaudit evidence: raw outputs behind each verdict"))
    manifest = {"files": [
        {"name": a.name, "sha256": a.sha256, "size": len(a.data),
         "role": "evidence" if i == 1 else "results"} for i, a in enumerate(files)]}
    files.append(Attachment(MANIFEST_NAME, json.dumps(manifest, indent=1).encode(),
                            "application/json", "SHA-256 of every attached file"))
    return files


def render(
    run: Run,
    outdir: Path,
    *,
    formats: Iterable[str] = ("pdf", "html"),
    lang: str = "en",
    theme: Path | None = None,
    template_dir: Path | None = None,
    evidence_path: Path | None = None,
    sign: Any = None,
    meta: ReportMeta | None = None,
    results_bytes: bytes | None = None,
) -> list[Path]:
    """Write the requested ``formats`` of ``run`` into ``outdir``; return the files written.

    ``lang`` is "en", "zh" or "both" (one bilingual document). ``sign`` is a
    ``cisaudit.signing.SignConfig``: the PDF gets a PAdES signature and the evidence file,
    copied into ``outdir``, a detached ``.sig``. ``results_bytes`` are the results.json
    bytes to embed in the PDF (by default the run is serialised again).
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in OUTPUT_NAMES]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if lang not in LANG_CHOICES:
        raise ValueError(f"unknown report language {lang!r}; choose from {sorted(LANG_CHOICES)}")
    outdir.mkdir(parents=True, exist_ok=True)
    meta = meta or ReportMeta()
    if not meta.generated_at:
        meta = ReportMeta(org=meta.org, client=meta.client, assessor=meta.assessor,
                          generated_at=_now())
    data_lang = LANG_CHOICES[lang][-1] if lang == "both" else lang  # machine formats: English
    written: list[Path] = []

    if "csv" in formats:
        from cisaudit.report.csv import render_csv
        written.append(render_csv(run, outdir / OUTPUT_NAMES["csv"], lang=data_lang))
    if "junit" in formats:
        from cisaudit.report.junit import render_junit
        written.append(render_junit(run, outdir / OUTPUT_NAMES["junit"], lang=data_lang))
    if "sarif" in formats:
        from cisaudit.report.sarif import render_sarif
        written.append(render_sarif(run, outdir / OUTPUT_NAMES["sarif"], lang=data_lang))
    if "html" not in formats and "pdf" not in formats:
        return written

    evidence = load_evidence(evidence_path) if evidence_path else None
    signer = sign.signer() if sign is not None else None
    signature = None
    if signer is not None:
        from cisaudit.signing import describe_signer
        subject, fingerprint = describe_signer(signer)
        signature = SignatureInfo(signer=subject, cert_sha256=fingerprint,
                                  tsa_url=sign.tsa_url or "")
    attachments = _attachments(run, results_bytes,
                               (evidence_path, evidence[0]) if evidence_path and evidence
                               else None)
    context = build_context(
        run, lang=lang, theme=load_theme(theme).to_context(), meta=meta,
        evidence=evidence[1] if evidence else None,
        attachments=attachments[:-1],  # the manifest lists the others; no need to show it
        signature=signature,
    )

    from cisaudit.report.templates import environment
    env = environment(template_dir)
    if "html" in formats:
        from cisaudit.report.html import render_html
        written.append(render_html(context, outdir / OUTPUT_NAMES["html"], env=env))
    if "pdf" in formats:
        from cisaudit.report.pdf import render_pdf
        out = outdir / OUTPUT_NAMES["pdf"]
        if signer is None:
            written.append(render_pdf(context, out, env=env, attachments=attachments))
        else:
            from cisaudit.signing import sign_pdf
            unsigned = outdir / (out.name + ".unsigned")
            render_pdf(context, unsigned, env=env, attachments=attachments)
            try:
                written.append(sign_pdf(unsigned, out, sign, signer=signer))
            finally:
                unsigned.unlink(missing_ok=True)
    if signer is not None and evidence_path is not None:
        from cisaudit.signing import sign_file
        copy = outdir / evidence_path.name
        if copy.resolve() != evidence_path.resolve():
            shutil.copyfile(evidence_path, copy)
        written += [copy, sign_file(copy, sign, signer=signer)]
    return written
