"""Reports: one ``Run`` rendered as PDF, HTML, CSV, JUnit XML and SARIF.

``render`` is the library entry point (``cisaudit report`` and ``cisaudit scan --format``
both call it). Renderers read only the result model; the PDF and HTML share one
documented template context (``cisaudit.report.context``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cisaudit.digest import text_sha256
from cisaudit.model import Run
from cisaudit.report.context import Attachment, ReportMeta, SignatureInfo, build_context
from cisaudit.report.csv import render_csv
from cisaudit.report.i18n import LANG_CHOICES
from cisaudit.report.junit import render_junit
from cisaudit.report.sarif import render_sarif
from cisaudit.report.theme import load_theme

if TYPE_CHECKING:
    from cisaudit.report.signing import SignConfig

__all__ = ["FORMATS", "OUTPUT_NAMES", "ReportMeta", "render", "load_evidence"]

# Output file name of each format, inside the output directory.
OUTPUT_NAMES = {
    "pdf": "report.pdf",
    "html": "report.html",
    "csv": "results.csv",
    "junit": "junit.xml",
    "sarif": "results.sarif",
}
# The assessment workbook is one file per framework: OUTDIR/<framework-id>.xlsx.
FORMATS = (*OUTPUT_NAMES, "xlsx")
_DATA_RENDERERS: dict[str, Callable[..., Path]] = {
    "csv": render_csv,
    "junit": render_junit,
    "sarif": render_sarif,
}


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


def bind_evidence(
    run: Run, path: Path, raw: bytes, doc: dict[str, Any], *, allow_modified: bool = False
) -> list[str]:
    """Check that the evidence file is the one ``run`` was made from; return the sections
    whose output no longer matches their SHA-256 (the report then says so).

    Results written since schema 1.1 name their evidence file's SHA-256; older ones are
    matched by run id. Evidence of another run is always refused; modified sections are
    refused unless ``allow_modified`` (or the results already record that they were)."""
    actual = hashlib.sha256(raw).hexdigest()
    bound = run.evidence or {}
    if bound.get("sha256"):
        if bound["sha256"] != actual:
            raise ValueError(
                f"{path}: this is not the evidence these results were made from: its SHA-256 "
                f"is {actual[:16]}…, the results were made from {bound.get('file', 'evidence')}"
                f" with SHA-256 {str(bound['sha256'])[:16]}… (run {bound.get('run_id')})"
            )
        return list(bound.get("modified") or [])
    ids = {run.run_id, run.options.get("original_run_id")} - {None}
    if doc.get("run_id") not in ids:
        raise ValueError(
            f"{path}: this evidence belongs to run {doc.get('run_id')!r}, not to the run of "
            f"these results ({run.run_id!r})"
        )
    modified = _modified_sections(doc)
    if modified and not allow_modified:
        raise ValueError(
            f"{path}: {len(modified)} evidence section(s) no longer match their SHA-256 "
            f"({', '.join(modified[:5])}); pass --allow-modified-evidence to report anyway "
            "(the report then says so)"
        )
    return modified


def _modified_sections(doc: dict[str, Any]) -> list[str]:
    found = []
    for target, entry in (doc.get("targets") or {}).items():
        for name, item in ((entry or {}).get("evidence") or {}).items():
            output = str((item or {}).get("output", ""))
            digest = text_sha256(output)
            if (item or {}).get("sha256") != digest:
                found.append(f"{target}/{name}")
    return found


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _attachments(
    run: Run, results_bytes: bytes | None, evidence: tuple[Path, bytes] | None
) -> list[Attachment]:
    """Files the PDF carries: results, evidence, and a manifest of their SHA-256.

    The manifest is what ``cisaudit verify`` checks the attachments against; the
    signature covers it like every other byte of the file.
    """
    from cisaudit.report.signing import MANIFEST_NAME

    if results_bytes is None:
        results_bytes = json.dumps(run.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")
    files = [
        (
            Attachment(
                "results.json",
                results_bytes,
                "application/json",
                "cisaudit results: the data this report was made from",
                "Data",
            ),
            "results",
        )
    ]
    if evidence is not None:
        path, raw = evidence
        mime = "application/gzip" if raw[:2] == b"\x1f\x8b" else "application/json"
        files.append(
            (
                Attachment(
                    path.name,
                    raw,
                    mime,
                    "cisaudit evidence: the raw outputs behind each verdict",
                    "Source",
                ),
                "evidence",
            )
        )
    manifest = {
        "files": [
            {"name": a.name, "sha256": a.sha256, "size": len(a.data), "role": role}
            for a, role in files
        ]
    }
    return [a for a, _ in files] + [
        Attachment(
            MANIFEST_NAME,
            json.dumps(manifest, indent=1).encode("utf-8"),
            "application/json",
            "SHA-256 of every attached file",
        )
    ]


def render(
    run: Run,
    outdir: Path,
    *,
    formats: Iterable[str] = ("pdf", "html"),
    lang: str = "en",
    theme: Path | None = None,
    template_dir: Path | None = None,
    evidence_path: Path | None = None,
    sign: SignConfig | None = None,
    meta: ReportMeta | None = None,
    results_bytes: bytes | None = None,
    allow_modified_evidence: bool = False,
    history: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the requested ``formats`` of ``run`` into ``outdir``; return the files written.

    ``lang`` is "en", "zh" or "both" (one bilingual document; CSV, JUnit and SARIF then
    use English). ``sign``: the PDF gets a PAdES signature, and the evidence file is
    copied into ``outdir`` with a detached ``.sig``. ``results_bytes`` are the
    results.json bytes to embed in the PDF (by default the run is serialised again).
    ``evidence_path`` must be the evidence these results were made from (checked by
    SHA-256, see :func:`bind_evidence`). ``history`` (``cisaudit.history.history_view``)
    adds the "changes since" chapter and the trend chart.
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if lang not in LANG_CHOICES:
        raise ValueError(f"unknown report language {lang!r}; choose from {sorted(LANG_CHOICES)}")
    outdir.mkdir(parents=True, exist_ok=True)
    signer = sign.signer() if sign is not None else None  # fail early on a bad key
    data_lang = "en" if lang == "both" else lang
    written = [
        _DATA_RENDERERS[f](run, outdir / OUTPUT_NAMES[f], lang=data_lang)
        for f in formats
        if f in _DATA_RENDERERS
    ]
    workbooks: list[Path] = []
    if "xlsx" in formats:
        from cisaudit.report.xlsx import render_xlsx

        workbooks = render_xlsx(run, outdir, lang=lang, client=(meta or ReportMeta()).client)
        written += workbooks
    documents = [f for f in formats if f in ("html", "pdf")]
    evidence = load_evidence(evidence_path) if evidence_path else None
    modified = list(run.evidence_modified)
    if evidence is not None and evidence_path is not None:
        modified = bind_evidence(
            run, evidence_path, *evidence, allow_modified=allow_modified_evidence
        )
    if documents:
        meta = meta or ReportMeta()
        if not meta.generated_at:
            meta = dataclasses.replace(meta, generated_at=_now())
        attachments = _attachments(
            run, results_bytes, (evidence_path, evidence[0]) if evidence_path and evidence else None
        )
        context = build_context(
            run,
            lang=lang,
            theme=load_theme(theme).to_context(),
            meta=meta,
            evidence=evidence[1] if evidence else None,
            attachments=attachments[:-1],  # the manifest lists the others
            signature=_signature_info(sign, signer),
            evidence_modified=modified,
            history=history,
        )
        written += _render_documents(
            context, outdir, documents, template_dir, attachments, sign, signer
        )
    if sign is not None and evidence_path is not None:
        written += _sign_evidence(evidence_path, outdir, sign, signer)
    if sign is not None and workbooks:
        from cisaudit.report.signing import sign_file

        written += [sign_file(book, sign, signer=signer) for book in workbooks]
    return written


def _signature_info(sign: SignConfig | None, signer: Any) -> SignatureInfo | None:
    if sign is None:
        return None
    from cisaudit.report.signing import describe_signer

    subject, fingerprint = describe_signer(signer)
    return SignatureInfo(signer=subject, cert_sha256=fingerprint, tsa_url=sign.tsa_url or "")


def _render_documents(
    context: dict[str, Any],
    outdir: Path,
    documents: list[str],
    template_dir: Path | None,
    attachments: list[Attachment],
    sign: SignConfig | None,
    signer: Any,
) -> list[Path]:
    from cisaudit.report.templates import environment

    env = environment(template_dir)
    written = []
    if "html" in documents:
        from cisaudit.report.html import render_html

        written.append(render_html(context, outdir / OUTPUT_NAMES["html"], env=env))
    if "pdf" in documents:
        from cisaudit.report.pdf import render_pdf

        out = outdir / OUTPUT_NAMES["pdf"]
        if sign is None:
            written.append(render_pdf(context, out, env=env, attachments=attachments))
        else:
            from cisaudit.report.signing import sign_pdf

            unsigned = outdir / (out.name + ".unsigned")
            try:
                render_pdf(context, unsigned, env=env, attachments=attachments)
                written.append(sign_pdf(unsigned, out, sign, signer=signer))
            finally:
                unsigned.unlink(missing_ok=True)
    return written


def _sign_evidence(evidence_path: Path, outdir: Path, sign: SignConfig, signer: Any) -> list[Path]:
    """Copy the evidence file beside the reports and sign the copy (detached ``.sig``)."""
    from cisaudit.report.signing import sign_file

    copy = outdir / evidence_path.name
    if copy.resolve() != evidence_path.resolve():
        shutil.copyfile(evidence_path, copy)
    return [copy, sign_file(copy, sign, signer=signer)]
