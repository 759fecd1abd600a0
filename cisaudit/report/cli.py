"""``cisaudit report``, ``cisaudit keys`` and ``cisaudit verify``: thin shells over
``cisaudit.report.render`` and ``cisaudit.report.signing``. ``register`` adds them to a group."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fnmatch
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cisaudit.model import Run
from cisaudit.report import ATTACH_MAX, FORMATS, LAYOUTS, SPLIT_BY, ReportMeta, render
from cisaudit.report.i18n import LANG_CHOICES
from cisaudit.report.signing import SignConfig, SigningError, Verification, init_keys, verify
from cisaudit.report.split import SplitError, group_written
from cisaudit.rollup import rescore
from cisaudit.termtext import console, printable
from cisaudit.waivers import DEFAULT_MAX_DAYS

EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2


def _formats(value: str) -> list[str]:
    wanted = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise click.BadParameter(f"{','.join(unknown) or value!r}: choose from {','.join(FORMATS)}")
    return wanted


def _passphrase(env_name: str | None) -> bytes | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise click.BadParameter(
            f"environment variable {env_name} is not set", param_hint="--sign-pass-env"
        )
    return value.encode()


def _sign_config(
    key: str | None, cert: str | None, p12: str | None, pass_env: str | None, tsa_url: str | None
) -> SignConfig | None:
    if not (key or cert or p12):
        if tsa_url or pass_env:
            raise click.UsageError(
                "--tsa-url and --sign-pass-env need --sign-key/--sign-cert or --sign-p12"
            )
        return None
    if p12 and (key or cert):
        raise click.UsageError("give either --sign-p12 or --sign-key with --sign-cert, not both")
    if not p12 and not (key and cert):
        raise click.UsageError("--sign-key and --sign-cert go together")
    return SignConfig(
        key=Path(key) if key else None,
        cert=Path(cert) if cert else None,
        p12=Path(p12) if p12 else None,
        passphrase=_passphrase(pass_env),
        tsa_url=tsa_url,
    )


def _limit(run: Run, patterns: list[str]) -> Run:
    """Only the targets whose name or one of whose groups matches a glob; scored again."""

    def wanted(name: str, groups: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in (name, *groups))

    targets = [t for t in run.targets if wanted(t.name, t.groups)]
    if not targets:
        raise click.BadParameter(
            f"no target or group matches {','.join(patterns)}", param_hint="--limit"
        )
    subset = dataclasses.replace(run, targets=targets, frameworks=copy.deepcopy(run.frameworks))
    rescore(subset)
    return subset


def _select_frameworks(ctx: click.Context, run: Run, wanted: list[str]) -> None:
    """Keep only the frameworks named. One the results lack is added from the catalog
    (through the main command's provider) when it sets no parameter of its own for the
    controls of this run; otherwise the evidence must be evaluated again for it."""
    provider = (ctx.find_root().obj or {}).get("frameworks")
    known: dict[str, dict[str, Any]] = provider() if provider else {}
    checks = {info.check for info in run.controls.values()}
    selected: dict[str, dict[str, Any]] = {}
    for framework_id in wanted:
        if framework_id in run.frameworks:
            selected[framework_id] = run.frameworks[framework_id]
            continue
        definition = known.get(framework_id)
        if definition is None:
            raise click.BadParameter(
                f"unknown framework {framework_id!r}; these results carry "
                f"{', '.join(run.frameworks) or 'none'}",
                param_hint="--framework",
            )
        pinned = sorted(set(definition.get("params") or {}) & checks)
        if pinned:
            raise click.BadParameter(
                f"{framework_id} sets its own values for {', '.join(pinned)}, which these "
                "results were not judged against: evaluate the evidence again with "
                f"--framework {framework_id}",
                param_hint="--framework",
            )
        selected[framework_id] = copy.deepcopy(definition)
    run.frameworks = selected


def _apply_waiver_file(ctx: click.Context, run: Run, path: Path, max_days: int) -> None:
    """Take back the waivers the results carry and apply this file's instead."""
    from cisaudit.waivers import KnownControls, apply_waivers, load_waivers
    from cisaudit.yamlsrc import SourceError

    provider = (ctx.find_root().obj or {}).get("known_controls")
    known = provider() if provider else KnownControls.from_run(run)
    try:
        waivers = load_waivers(path, known, max_days=max_days)
    except SourceError as exc:
        click.echo(f"error: {printable(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    apply_waivers(run, waivers)


def _load_run(path: Path) -> tuple[Run, bytes]:
    """results.json, or exit 2 naming the file (never a traceback on a malformed one)."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        return Run.from_dict(data), raw
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        click.echo(
            f"error: {printable(path)}: not a cisaudit results file: "
            f"{printable(exc, one_line=True)}",
            err=True,
        )
        sys.exit(EXIT_USAGE)


@click.command("report")
@click.argument(
    "results", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--run",
    "run_ref",
    default=None,
    metavar="RUN",
    help="Render a stored run instead of a results file: its id, a prefix, last or last~N "
    "(its evidence is rebuilt from the store and attached).",
)
@click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="The store --run reads (default: CISAUDIT_STORE or the local SQLite store).",
)
@click.option(
    "-o",
    "--output",
    "outdir",
    default="cisaudit-report",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the reports.",
)
@click.option(
    "--format",
    "formats",
    default="pdf,html",
    show_default=True,
    help=f"Comma-separated formats: {','.join(FORMATS)}.",
)
@click.option(
    "--lang",
    default="both",
    show_default=True,
    type=click.Choice(list(LANG_CHOICES)),
    help="Report language; 'both' makes one bilingual document.",
)
@click.option(
    "--theme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Theme YAML (organisation, logo, colours); see reports/theme.yml.",
)
@click.option(
    "--templates",
    "template_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory whose templates override the built-in ones.",
)
@click.option(
    "--evidence",
    "evidence_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Evidence file (.json or .json.gz) for the annex and attachment.",
)
@click.option("--sign-key", type=click.Path(dir_okay=False), help="PEM private key to sign with.")
@click.option("--sign-cert", type=click.Path(dir_okay=False), help="PEM certificate of that key.")
@click.option(
    "--sign-p12", type=click.Path(dir_okay=False), help="PKCS#12 file (key + certificate)."
)
@click.option(
    "--sign-pass-env", metavar="VAR", help="Environment variable holding the key passphrase."
)
@click.option("--tsa-url", metavar="URL", help="RFC 3161 timestamp authority for the signature.")
@click.option(
    "--limit",
    "limit",
    default="",
    metavar="PATTERNS",
    help="Only targets whose name or group matches these comma-separated globs.",
)
@click.option("--client", default="", help="Client (audited organisation) named on the cover.")
@click.option("--assessor", default="", help="Assessor named on the cover and signature page.")
@click.option("--org", default="", help="Auditing organisation (overrides the theme's org_name).")
@click.option(
    "--allow-modified-evidence",
    is_flag=True,
    help="Report from evidence whose sections no longer match their SHA-256 (the "
    "report then says so in a banner). Evidence of another run is always refused.",
)
@click.option(
    "--framework",
    "frameworks",
    default="",
    metavar="IDS",
    help="Only these frameworks (comma-separated), e.g. mlps-2.0-l3; xlsx writes one "
    "workbook per framework.",
)
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Apply this waiver file instead of the one the results were made with.",
)
@click.option(
    "--waiver-max-days",
    default=DEFAULT_MAX_DAYS,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Longest validity a waiver may have; a longer one is refused.",
)
@click.option(
    "--layout",
    default="auto",
    show_default=True,
    type=click.Choice(list(LAYOUTS)),
    help="full: every target's findings and evidence excerpts; fleet: one row per target and "
    "the findings grouped by control; auto: fleet above 20 targets or with --split-by.",
)
@click.option(
    "--split-by",
    type=click.Choice(list(SPLIT_BY)),
    help="Also write one detail PDF per target (targets/) or per group (groups/), each "
    "signed when signing; the fleet PDF lists them with their SHA-256.",
)
@click.option(
    "--attach-max-mb",
    default=ATTACH_MAX >> 20,
    show_default=True,
    type=click.IntRange(0, 4096),
    help="Embed the evidence file in the PDF up to this size; a larger one is named with "
    "its SHA-256 (and signed beside the report when signing).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    help="Processes rendering --split-by reports (default: one per CPU).",
)
@click.pass_context
def report_command(
    ctx: click.Context,
    results: Path | None,
    run_ref: str | None,
    store_url: str | None,
    outdir: Path,
    formats: str,
    lang: str,
    theme: Path | None,
    template_dir: Path | None,
    evidence_path: Path | None,
    sign_key: str | None,
    sign_cert: str | None,
    sign_p12: str | None,
    sign_pass_env: str | None,
    tsa_url: str | None,
    limit: str,
    client: str,
    assessor: str,
    org: str,
    allow_modified_evidence: bool,
    frameworks: str,
    waivers_path: Path | None,
    waiver_max_days: int,
    layout: str,
    split_by: str | None,
    attach_max_mb: int,
    jobs: int | None,
) -> None:
    """Render RESULTS (a results.json) as PDF, HTML, CSV, JUnit XML, SARIF and the
    assessment workbook (xlsx), optionally signed.

    --evidence must be the evidence file these results were made from: results name its
    SHA-256, and any other file is refused (exit 2)."""
    wanted = _formats(formats)
    sign = _sign_config(sign_key, sign_cert, sign_p12, sign_pass_env, tsa_url)
    providers = ctx.find_root().obj or {}
    history = None
    raw: bytes | None
    if (results is None) == (run_ref is None):
        raise click.UsageError("give either RESULTS (a results.json) or --run RUN")
    if run_ref is not None:
        if "stored_run" not in providers:
            raise click.UsageError("--run needs the store (cisaudit report, not the library)")
        run, rebuilt, history = providers["stored_run"](store_url, run_ref, outdir)
        raw = None
        if evidence_path is None:
            evidence_path = rebuilt
    else:
        assert results is not None
        run, raw = _load_run(results)
        if "history_for" in providers:
            history = providers["history_for"](run)
    changed = False
    wanted_frameworks = [f.strip() for f in frameworks.split(",") if f.strip()]
    if wanted_frameworks:
        _select_frameworks(ctx, run, wanted_frameworks)
        changed = True
    if waivers_path is not None:
        _apply_waiver_file(ctx, run, waivers_path, waiver_max_days)
        changed = True
    if changed:
        rescore(run)
    patterns = [p.strip() for p in limit.split(",") if p.strip()]
    if patterns:
        run = _limit(run, patterns)
    try:
        with detail_progress(split_by) as progress:
            written = render(
                run,
                outdir,
                formats=wanted,
                lang=lang,
                theme=theme,
                template_dir=template_dir,
                evidence_path=evidence_path,
                sign=sign,
                meta=ReportMeta(org=org, client=client, assessor=assessor),
                # The results as rendered: re-serialised when waivers or frameworks changed them.
                results_bytes=None if changed else raw,
                history=history,
                allow_modified_evidence=allow_modified_evidence,
                layout=layout,
                split_by=split_by,
                attach_max=attach_max_mb << 20,
                workers=jobs,
                progress=progress,
            )
    except SplitError as exc:
        # the other reports were written: say which, then name every part that failed
        for path in exc.written:
            click.echo(f"wrote {printable(path)}", err=True)
        for failure in exc.failures:
            click.echo(
                f"error: {printable(failure.part, one_line=True)}: "
                f"{printable(failure.error, one_line=True)}",
                err=True,
            )
        sys.exit(EXIT_VERIFY_FAILED)
    except (SigningError, ValueError, OSError) as exc:
        click.echo(f"error: {printable(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    _echo_written(written)


@contextlib.contextmanager
def detail_progress(split_by: str | None) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar for ``--split-by`` detail reports when stderr is a terminal: a
    fleet has thousands of them, minutes of work with nothing else to show."""
    err = console(stderr=True)
    if split_by is None or not err.is_terminal:
        yield None
        return
    from cisaudit.i18n import t

    columns = (TextColumn(t("rendering_details")), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("details", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def _echo_written(written: list[Path]) -> None:
    """Each file written; detail reports (--split-by) in one line per folder."""
    single, folders = group_written(written)
    for path in single:
        click.echo(f"wrote {printable(path)}", err=True)
    for folder, count in folders.items():
        click.echo(f"wrote {count} detail report(s) in {printable(folder)}", err=True)


@click.group("keys")
def keys_group() -> None:
    """Signing keys for reports."""


@keys_group.command("init")
@click.option(
    "-o",
    "--output",
    "outdir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for signing-key.pem (mode 0600) and signing-cert.pem.",
)
@click.option("--name", "common_name", required=True, help="Signer's name in the certificate.")
@click.option("--org", default="", help="Organisation in the certificate.")
@click.option(
    "--days",
    default=365,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Validity of the certificate.",
)
@click.option("--pass-env", metavar="VAR", help="Encrypt the key with the passphrase in VAR.")
@click.option("--force", is_flag=True, help="Replace an existing key and certificate.")
def keys_init(
    outdir: Path, common_name: str, org: str, days: int, pass_env: str | None, force: bool
) -> None:
    """Create a trial signing key and self-signed certificate."""
    try:
        paths = init_keys(
            outdir,
            common_name=common_name,
            organisation=org,
            days=days,
            passphrase=_passphrase(pass_env),
            overwrite=force,
        )
    except SigningError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {paths.key} (private, 0600)\nwrote {paths.cert}")
    click.echo(
        "This self-signed certificate is for trials: readers will call the signer "
        "unknown until they trust it (cisaudit verify --trust CERT).",
        err=True,
    )


def _print_verification(v: Verification) -> None:
    def line(label: str, value: object) -> None:
        click.echo(f"  {label:<20} {printable(value, one_line=True)}")

    what = "PDF signature" if v.kind == "pdf" else "detached signature"
    click.echo(f"{printable(v.path)}: {what}")
    if v.signer:
        line("signed by:", v.signer)
        line("subject:", v.subject)
        line("issuer:", v.issuer)
        line("SHA-256 fingerprint:", v.fingerprint)
    if v.signed_at:
        line("signed at:", v.signed_at)
    if v.timestamp:
        line("timestamp (TSA):", v.timestamp)
    line("intact:", "yes" if v.intact else "NO")
    line("signature valid:", "yes" if v.valid else "NO")
    if v.kind == "pdf":
        line("covers whole file:", "yes" if v.whole_file else "NO")
    trusted = {None: "NOT VERIFIED (no trust anchor given)", True: "yes", False: "NO"}[v.trusted]
    line("trusted signer:", trusted)
    for name, ok, digest in v.attachments:
        line(f"attachment {name}:", f"{'hash matches' if ok else 'HASH MISMATCH'} ({digest})")
    if not v.ok:
        for problem in v.problems:
            click.echo(f"TAMPERED OR INVALID: {printable(problem, one_line=True)}", err=True)
    elif v.trusted is None:
        click.echo(
            "SIGNER NOT VERIFIED: the signature is valid and the document intact, but no trust "
            "anchor was given, so anyone could have made a certificate with this name. Compare "
            "the SHA-256 fingerprint above with the one the signer gave you, or verify with "
            "--trust CERT|DIR|system.",
            err=True,
        )
    else:
        click.echo(
            "OK: signature valid, document intact, signer trusted"
            + (", attachments match" if v.attachments else "")
        )


EXIT_SIGNER_UNVERIFIED = 3


@click.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    metavar="CERT|DIR|system",
    help="Trust anchors the signer must chain to: a certificate file (PEM, may hold "
    "several, or DER), a directory of them, or 'system' for the system store.",
)
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached signature file (default: PATH.sig).",
)
def verify_command(path: Path, trust: str | None, signature: Path | None) -> None:
    """Verify a signed report PDF or a file with a detached signature (e.g. the evidence).

    Exit 0 when the signature is valid, the file intact and whole, every embedded
    attachment matches its recorded SHA-256, and the signer chains to --trust; 3 when all
    that holds but no trust anchor was given (the signer is not verified); 1 when anything
    is tampered, invalid or untrusted; 2 on usage errors.
    """
    try:
        result = verify(path, trust=trust, signature=signature)
    except SigningError as exc:
        click.echo(f"error: {printable(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    _print_verification(result)
    if not result.ok:
        sys.exit(EXIT_VERIFY_FAILED)
    sys.exit(0 if result.trusted else EXIT_SIGNER_UNVERIFIED)
