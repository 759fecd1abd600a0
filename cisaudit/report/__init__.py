"""Reports: one ``Run`` rendered as PDF, HTML, CSV, JUnit XML and SARIF.

``render`` is the library entry point (``cisaudit report`` and ``cisaudit scan --format``
both call it). Renderers read only the result model; the PDF and HTML share one
documented template context (``cisaudit.report.context``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cisaudit.digest import text_sha256
from cisaudit.model import Run, dump_run
from cisaudit.report import evidence_file
from cisaudit.report.context import Attachment, ReportMeta, SignatureInfo, build_context
from cisaudit.report.csv import render_csv
from cisaudit.report.evidence_file import EvidenceInfo
from cisaudit.report.i18n import LANG_CHOICES
from cisaudit.report.junit import render_junit
from cisaudit.report.sarif import render_sarif
from cisaudit.report.theme import load_theme

if TYPE_CHECKING:
    from cisaudit.report.signing import SignConfig

__all__ = ["FORMATS", "LAYOUTS", "OUTPUT_NAMES", "ReportMeta", "SPLIT_BY", "render"]

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
LAYOUTS = ("auto", "full", "fleet")
SPLIT_BY = ("target", "group")
# Sizes chosen from bench/bench_report.py and documented in docs/reports.md:
# - "auto" prints every target's findings up to this many targets, above it the fleet
#   layout (one table row per target, findings grouped by control);
FLEET_ABOVE = 20
# - the evidence annex prints excerpts of the raw outputs while the evidence file is at
#   most this size; above it the file is attached and the annex lists its hash;
EVIDENCE_PAGES_MAX = 4 << 20
# - the evidence file is embedded in the PDF up to this size; a larger one is named with
#   its SHA-256 (and signed beside the report when signing).
ATTACH_MAX = 64 << 20
_DATA_RENDERERS: dict[str, Callable[..., Path]] = {
    "csv": render_csv,
    "junit": render_junit,
    "sarif": render_sarif,
}


def bind_evidence(run: Run, evidence: EvidenceInfo, *, allow_modified: bool = False) -> list[str]:
    """Check that the evidence file is the one ``run`` was made from; return the sections
    whose output no longer matches their SHA-256 (the report then says so).

    Results written since schema 1.1 name their evidence file's SHA-256, which is
    compared without parsing the file; older ones are matched by run id. Evidence of
    another run is always refused; modified sections are refused unless
    ``allow_modified`` (or the results already record that they were)."""
    path = evidence.path
    bound = run.evidence or {}
    if bound.get("sha256"):
        if bound["sha256"] != evidence.sha256:
            raise ValueError(
                f"{path}: this is not the evidence these results were made from: its SHA-256 "
                f"is {evidence.sha256[:16]}…, the results were made from "
                f"{bound.get('file', 'evidence')} with SHA-256 {str(bound['sha256'])[:16]}… "
                f"(run {bound.get('run_id')})"
            )
        return list(bound.get("modified") or [])
    doc = evidence_file.parse(path)
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


def attachments_for(
    run: Run,
    results_bytes: bytes | None,
    evidence: tuple[Path, bytes] | None,
    *,
    extra: Iterable[Attachment] = (),
) -> list[Attachment]:
    """Files the PDF carries: results, evidence, and a manifest of their SHA-256.

    The manifest is what ``cisaudit verify`` checks the attachments against; the
    signature covers it like every other byte of the file.
    """
    from cisaudit.report.signing import MANIFEST_NAME

    if results_bytes is None:
        text = io.StringIO()
        dump_run(run, text)  # the layout of results.json, by the json module's C encoder
        results_bytes = text.getvalue().encode("utf-8")
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
    files += [(a, "parts") for a in extra]
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


def resolve_layout(layout: str, targets: int, split_by: str | None) -> str:
    """ "auto" is the fleet layout above FLEET_ABOVE targets or when the details go to
    per-target reports; "full" and "fleet" are taken as asked."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown report layout {layout!r}; choose from {list(LAYOUTS)}")
    if layout != "auto":
        return layout
    return "fleet" if split_by or targets > FLEET_ABOVE else "full"


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
    layout: str = "auto",
    split_by: str | None = None,
    attach_max: int = ATTACH_MAX,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write the requested ``formats`` of ``run`` into ``outdir``; return the files written.

    ``lang`` is "en", "zh" or "both" (one bilingual document; CSV, JUnit and SARIF then
    use English). ``sign``: the PDF gets a PAdES signature, and the evidence file is
    copied into ``outdir`` with a detached ``.sig``. ``results_bytes`` are the
    results.json bytes to embed in the PDF (by default the run is serialised again).
    ``evidence_path`` must be the evidence these results were made from (checked by
    SHA-256, see :func:`bind_evidence`). ``history`` (``cisaudit.history.history_view``)
    adds the "changes since" chapter and the trend chart.

    ``layout`` (:func:`resolve_layout`) chooses between every target's findings and the
    fleet layout. ``split_by`` "target" or "group" also writes one signed detail PDF per
    target or group under ``targets/`` or ``groups/``, rendered by ``workers`` processes
    (default: one per CPU); the fleet PDF attaches their list with each SHA-256, and
    ``progress(done, total)`` is called as each one is finished. The evidence is embedded
    up to ``attach_max`` bytes.
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {list(FORMATS)}")
    if lang not in LANG_CHOICES:
        raise ValueError(f"unknown report language {lang!r}; choose from {sorted(LANG_CHOICES)}")
    if split_by is not None and split_by not in SPLIT_BY:
        raise ValueError(f"unknown split {split_by!r}; choose from {list(SPLIT_BY)}")
    if split_by is not None and "pdf" not in formats:
        raise ValueError("--split-by writes detail PDFs: add pdf to --format")
    chosen = resolve_layout(layout, len(run.targets), split_by)
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
    evidence = evidence_file.describe(evidence_path) if evidence_path else None
    modified = list(run.evidence_modified)
    if evidence is not None:
        modified = bind_evidence(run, evidence, allow_modified=allow_modified_evidence)
    meta = meta or ReportMeta()
    if not meta.generated_at:
        meta = dataclasses.replace(meta, generated_at=_now())
    theme_context = load_theme(theme).to_context()
    extra: list[Attachment] = []
    files: dict[str, str] = {}
    failures = None
    if split_by is not None:
        from cisaudit.report import split

        parts = split.plan(run, split_by)
        finished = 0

        def part_done(_: split.Part) -> None:
            nonlocal finished
            finished += 1
            if progress is not None:
                progress(finished, len(parts))

        done, failures = split.render_parts(
            run,
            parts,
            outdir,
            evidence=evidence,
            lang=lang,
            theme=theme_context,
            template_dir=template_dir,
            meta=meta,
            sign=sign,
            fleet_report=OUTPUT_NAMES["pdf"],
            workers=workers,
            progress=part_done,
        )
        written += [path for _, path in done]
        files = split.files_by_target([part for part, _ in done])
        extra.append(split.manifest_attachment(split.parts_manifest(done, split_by)))
    if documents:
        pages = chosen == "full" and evidence is not None and evidence.size <= EVIDENCE_PAGES_MAX
        embedded = evidence is not None and evidence.size <= attach_max
        attachments = attachments_for(
            run,
            results_bytes,
            (evidence.path, evidence.path.read_bytes()) if evidence and embedded else None,
            extra=extra,
        )
        context = build_context(
            run,
            lang=lang,
            theme=theme_context,
            meta=meta,
            evidence=evidence_file.parse(evidence.path) if evidence and pages else None,
            attachments=attachments[:-1],  # the manifest lists the others
            signature=signature_info(sign, signer),
            evidence_modified=modified,
            history=history,
            layout=chosen,
            files=files,
            evidence_pages=pages,
        )
        context["evidence_file"] = (
            None
            if evidence is None
            else {
                "name": evidence.path.name,
                "size": evidence.size,
                "sha256": evidence.sha256,
                "attached": embedded,
            }
        )
        written += _render_documents(
            context, outdir, documents, template_dir, attachments, sign, signer
        )
    if sign is not None and evidence_path is not None:
        written += _sign_evidence(evidence_path, outdir, sign, signer)
    if sign is not None and workbooks:
        from cisaudit.report.signing import sign_file

        written += [sign_file(book, sign, signer=signer) for book in workbooks]
    if failures:
        from cisaudit.report.split import SplitError

        raise SplitError(failures, written)
    return written


def signature_info(sign: SignConfig | None, signer: Any) -> SignatureInfo | None:
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
