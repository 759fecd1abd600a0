"""Per-target and per-group detail reports beside a fleet report (``--split-by``).

Each part is the run cut down to its targets and scored again, rendered with
``detail.pdf.html.j2`` (the findings, waivers, evidence annex and signature page of
those targets), signed when signing is on, with its own results and evidence attached.
Parts are rendered by a pool of processes, a few queued per process, so that memory
holds a handful of parts at a time whatever the size of the fleet; the evidence is read
from a spool (``evidence_file.spool``), never whole.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import functools
import gc
import hashlib
import json
import multiprocessing
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cisaudit.model import Run, TargetResult
from cisaudit.report.context import Attachment, ReportMeta, build_context
from cisaudit.report.evidence_file import EvidenceInfo, Spool, spool
from cisaudit.report.pdf import load_weasyprint

if TYPE_CHECKING:
    from cisaudit.report.signing import SignConfig

SPLIT_BY = ("target", "group")
FOLDERS = {"target": "targets", "group": "groups"}
NO_GROUP = "ungrouped"
QUEUED_PER_WORKER = 2


@dataclasses.dataclass(frozen=True)
class Part:
    name: str  # a target's name, or a group's
    file: str  # path of its report, relative to the output directory
    targets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PartFailure:
    part: str
    error: str


class SplitError(ValueError):
    """Some parts could not be rendered; the others were written."""

    def __init__(self, failures: list[PartFailure], written: list[Path]) -> None:
        self.failures, self.written = failures, written
        shown = "; ".join(f"{f.part}: {f.error}" for f in failures[:5])
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} detail report(s) could not be written: {shown}{more}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(name: str, taken: set[str]) -> str:
    """A file name for a target or group: its name where that is safe, otherwise a
    cleaned name with a short hash of the real one (hostile or colliding names stay
    apart and inside the folder)."""
    clean = _UNSAFE.sub("_", name).strip("._-")[:80] or "part"
    if clean != name or clean.lower() in taken:
        clean = f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    taken.add(clean.lower())
    return clean


def plan(run: Run, by: str) -> list[Part]:
    """The parts of ``run``: one per target, or one per group (a target goes to each of
    its groups; targets in none go to "ungrouped")."""
    if by not in SPLIT_BY:
        raise ValueError(f"unknown --split-by {by!r}; choose from {list(SPLIT_BY)}")
    folder, taken = FOLDERS[by], set[str]()
    if by == "target":
        return [
            Part(t.name, f"{folder}/{file_stem(t.name, taken)}.pdf", (t.name,)) for t in run.targets
        ]
    members: dict[str, list[str]] = {}
    for target in run.targets:
        for group in target.groups or [NO_GROUP]:
            members.setdefault(group, []).append(target.name)
    return [
        Part(group, f"{folder}/{file_stem(group, taken)}.pdf", tuple(names))
        for group, names in sorted(members.items())
    ]


def files_by_target(parts: list[Part]) -> dict[str, str]:
    """Each target's report file (a target in several groups: its first group's)."""
    found: dict[str, str] = {}
    for part in parts:
        for name in part.targets:
            found.setdefault(name, part.file)
    return found


def subset(run: Run, names: tuple[str, ...]) -> Run:
    """``run`` cut down to ``names``, scored again. Framework definitions are shared
    (their verdicts are recomputed), and only the controls the targets ran are kept."""
    from cisaudit.rollup import rescore

    wanted = set(names)
    targets: list[TargetResult] = [t for t in run.targets if t.name in wanted]
    keys = {t.control_key(r) for t in targets for r in t.results}
    part = dataclasses.replace(
        run,
        targets=targets,
        controls={k: v for k, v in run.controls.items() if k in keys},
        frameworks={
            fid: {k: v for k, v in fw.items() if k not in ("verdicts", "summary")}
            for fid, fw in run.frameworks.items()
        },
    )
    rescore(part)
    return part


@dataclasses.dataclass(frozen=True)
class _Job:
    part: Part
    run: Run
    out: Path
    spool: Spool | None
    source: dict[str, str] | None  # the fleet evidence file's name and SHA-256
    lang: str
    theme: dict[str, Any]
    template_dir: Path | None
    meta: ReportMeta
    sign: SignConfig | None
    fleet_report: str


@functools.lru_cache(maxsize=4)
def _signer(sign: SignConfig) -> Any:
    """The signer, loaded (and its key checked) once per worker process."""
    return sign.signer()


def _render_part(job: _Job) -> Path:
    """One detail report (runs in a worker process)."""
    from cisaudit.report import attachments_for, signature_info
    from cisaudit.report.pdf import render_pdf
    from cisaudit.report.templates import environment

    evidence = job.spool.read(list(job.part.targets)) if job.spool is not None else None
    evidence_bytes = (
        json.dumps(evidence, ensure_ascii=False, indent=1).encode("utf-8")
        if evidence is not None
        else None
    )
    stem = Path(job.part.file).stem
    files = attachments_for(
        job.run,
        None,
        (Path(f"evidence-{stem}.json"), evidence_bytes) if evidence_bytes is not None else None,
    )
    signer = _signer(job.sign) if job.sign is not None else None
    context = build_context(
        job.run,
        lang=job.lang,
        theme=job.theme,
        meta=job.meta,
        evidence=evidence,
        attachments=files[:-1],
        signature=signature_info(job.sign, signer),
    )
    context["part"] = {
        "name": job.part.name,
        "targets": list(job.part.targets),
        "fleet_report": job.fleet_report,
        "source_evidence": job.source,
    }
    env = environment(job.template_dir)
    job.out.parent.mkdir(parents=True, exist_ok=True)
    if job.sign is None:
        return render_pdf(
            context, job.out, env=env, attachments=files, template="detail.pdf.html.j2"
        )
    from cisaudit.report.signing import sign_pdf

    unsigned = job.out.with_name(job.out.name + ".unsigned")
    try:
        render_pdf(context, unsigned, env=env, attachments=files, template="detail.pdf.html.j2")
        return sign_pdf(unsigned, job.out, job.sign, signer=signer)
    finally:
        unsigned.unlink(missing_ok=True)


def render_parts(
    run: Run,
    parts: list[Part],
    outdir: Path,
    *,
    evidence: EvidenceInfo | None,
    lang: str,
    theme: dict[str, Any],
    template_dir: Path | None,
    meta: ReportMeta,
    sign: SignConfig | None,
    fleet_report: str,
    workers: int | None = None,
    progress: Callable[[Part], None] | None = None,
) -> tuple[list[tuple[Part, Path]], list[PartFailure]]:
    """Render every part; return those written and those that failed (a bad part does
    not stop the others)."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(parts)))
    source = {"name": evidence.path.name, "sha256": evidence.sha256} if evidence else None
    done: list[tuple[Part, Path]] = []
    failed: list[PartFailure] = []
    with tempfile.TemporaryDirectory(prefix="cisaudit-split-") as scratch:
        spooled = spool(evidence.path, Path(scratch) / "evidence.spool") if evidence else None
        by_name = {t.name: t for t in run.targets}

        def jobs() -> Any:
            for part in parts:
                # the part's own run is built here, one at a time, as the pool asks
                yield (
                    part,
                    _Job(
                        part=part,
                        run=subset(run, tuple(n for n in part.targets if n in by_name)),
                        out=outdir / part.file,
                        spool=spooled.only(part.targets) if spooled else None,
                        source=source,
                        lang=lang,
                        theme=theme,
                        template_dir=template_dir,
                        meta=meta,
                        sign=sign,
                        fleet_report=fleet_report,
                    ),
                )

        def finish(part: Part, call: Callable[[], Path]) -> None:
            try:
                done.append((part, call()))
            except Exception as exc:  # noqa: BLE001 - one part's failure is that part's
                failed.append(PartFailure(part.name, f"{type(exc).__name__}: {exc}"))
            if progress is not None:
                progress(part)

        if workers == 1:
            for part, job in jobs():
                finish(part, functools.partial(_render_part, job))
            return done, failed
        # Forked workers start at once and need no importable __main__ (a library caller's
        # unguarded script would be re-run by "spawn"). The cycle collector's objects are
        # frozen first, so that workers collecting garbage do not copy the parent's pages.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        if context.get_start_method() == "fork":
            # imported once here rather than in every worker (0.3 s each)
            load_weasyprint()
        gc.freeze()
        try:
            _pool(workers, context, jobs(), finish)
        finally:
            gc.unfreeze()
    return done, failed


def _pool(
    workers: int,
    context: Any,
    jobs: Any,
    finish: Callable[[Part, Callable[[], Path]], None],
) -> None:
    """Run ``jobs`` on ``workers`` processes, a few queued per process. A worker that
    dies (killed, out of memory) fails the parts it held and those not yet sent."""
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[cf.Future[Path], Part] = {}
        for part, job in jobs:
            try:
                pending[pool.submit(_render_part, job)] = part
            except cf.BrokenExecutor as exc:
                finish(part, functools.partial(_raise, exc))
                continue
            if len(pending) >= workers * QUEUED_PER_WORKER:
                ready, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in ready:
                    finish(pending.pop(future), future.result)
        for future in cf.as_completed(list(pending)):
            finish(pending.pop(future), future.result)


def _raise(exc: BaseException) -> Path:
    raise exc


def group_written(written: list[Path]) -> tuple[list[Path], dict[Path, int]]:
    """The files to name one by one, and the detail reports counted per folder (a fleet
    has thousands of them: a line each would bury the rest)."""
    single: list[Path] = []
    folders: dict[Path, int] = {}
    for path in written:
        if path.parent.name in FOLDERS.values() and path.suffix == ".pdf":
            folders[path.parent] = folders.get(path.parent, 0) + 1
        else:
            single.append(path)
    return single, folders


def parts_manifest(written: list[tuple[Part, Path]], by: str) -> Mapping[str, Any]:
    """What the fleet report attaches about its parts: each file with its SHA-256."""
    rows = []
    for part, path in sorted(written, key=lambda pw: pw[0].file):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(
            {"name": part.name, "file": part.file, "targets": list(part.targets), "sha256": digest}
        )
    return {"split_by": by, "parts": rows}


def manifest_attachment(manifest: Mapping[str, Any]) -> Attachment:
    return Attachment(
        "detail-reports.json",
        json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"),
        "application/json",
        "the per-target (or per-group) detail reports of this run, each with its SHA-256",
        "Supplement",
    )
