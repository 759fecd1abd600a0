"""The ``cisaudit`` command: a thin shell over ``cisaudit.api``."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cisaudit import __version__
from cisaudit.report.cli import keys_group, report_command, verify_command
from cisaudit.score import EXIT_CODES_HELP, EXIT_USAGE
from cisaudit.termtext import console, literal, printable
from cisaudit.yamlsrc import SourceError

if TYPE_CHECKING:
    from cisaudit.api import Outcome, ProgressFn, Selection
    from cisaudit.catalog import Catalog
    from cisaudit.evidence import TargetEvidence
    from cisaudit.model import Run

Command = Callable[..., Any]

# Plain strings printed on these consoles are never markup: every styled piece is a Text
# built here, and every foreign string (host names, errors, titles) is printed literally.
err = console(stderr=True)
out = console()


def _split(values: tuple[str, ...]) -> list[str]:
    return [p for v in values for p in v.split(",") if p.strip()]


def _lang_option(f: Command) -> Command:
    def apply(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value:
            os.environ["CISAUDIT_LANG"] = value
        return value

    return click.option(
        "--lang",
        type=click.Choice(["en", "zh"]),
        default=None,
        expose_value=False,
        callback=apply,
        is_eager=True,
        help="Language of messages (also CISAUDIT_LANG).",
    )(f)


def _selection_options(f: Command) -> Command:
    f = click.option(
        "--skip", multiple=True, help="Skip control ids, sections or check slugs (comma-separated)."
    )(f)
    f = click.option(
        "--only",
        multiple=True,
        help="Only these control ids, sections or check slugs, e.g. 2,5.5,1.1.",
    )(f)
    f = click.option(
        "--level",
        type=click.IntRange(1, 2),
        default=None,
        help="Profile level: 1 runs level-1 controls only; 2 runs all.",
    )(f)
    f = click.option("--benchmark", default=None, help="Benchmark id, e.g. cis-docker-1.6.0.")(f)
    return f


def _catalog_options(f: Command) -> Command:
    f = click.option(
        "--tailoring",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML file of parameter values by check slug or pack/control (docs/controls.md).",
    )(f)
    f = click.option(
        "--checks",
        "checks_dirs",
        multiple=True,
        type=click.Path(file_okay=False),
        help="A folder of your own packs and checks (packs/, library/), run beside CIS; "
        "repeatable.",
    )(f)
    return f


def _catalog(
    checks_dirs: tuple[str, ...] = (),
    tailoring: str | None = None,
    kinds: set[str] | None = None,
) -> Catalog:
    """The catalog with the user's packs and tailoring (only the packs for ``kinds`` of
    target, when given); input errors exit 2."""
    from cisaudit.api import load_catalog, load_tailoring

    try:
        return load_catalog(
            extra=[Path(d) for d in checks_dirs],
            tailoring=load_tailoring(Path(tailoring)) if tailoring else None,
            kinds=kinds,
        )
    except (SourceError, KeyError) as exc:
        _input_error(exc)


class Group(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text(EXIT_CODES_HELP)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="cisaudit")
def main() -> None:
    """Agentless CIS benchmark audits of Docker hosts (and Kubernetes) over SSH."""
    # paramiko logs every dropped connection with a traceback; cisaudit reports the reason
    # per target itself, so its log stays quiet unless asked for (CISAUDIT_DEBUG=1).
    if not os.environ.get("CISAUDIT_DEBUG"):
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "-i",
    "--inventory",
    "inventory",
    required=True,
    type=click.Path(dir_okay=False),
    help="Inventory file: native cisaudit YAML, Ansible YAML or INI.",
)
@click.option(
    "-o",
    "--output",
    "outdir",
    default="cisaudit-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where results.json and evidence.json go.",
)
@_selection_options
@click.option(
    "--limit", multiple=True, help="Only these hosts or groups (names or globs, comma-separated)."
)
@click.option(
    "--concurrency",
    default=16,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Targets audited at once.",
)
@click.option(
    "--timeout",
    default=None,
    type=click.FloatRange(1, 3600),
    help="Per-command deadline in seconds for each target (default: inventory's, 60).",
)
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Record unknown SSH host keys on first use (a changed key is still refused).",
)
@click.option(
    "--gzip-evidence", is_flag=True, help="Write evidence.json.gz instead of evidence.json."
)
@click.option(
    "--format",
    "formats",
    default="json",
    show_default=True,
    help="Also render reports: json plus any of pdf,html,csv,junit,sarif.",
)
@click.option(
    "--report-lang",
    default="both",
    type=click.Choice(["en", "zh", "both"]),
    help="Language of rendered reports.",
)
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (implied when stderr is not a terminal)."
)
@_catalog_options
@_lang_option
def scan(
    inventory: str,
    outdir: str,
    benchmark: str | None,
    level: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    limit: tuple[str, ...],
    concurrency: int,
    timeout: float | None,
    accept_new_host_keys: bool,
    gzip_evidence: bool,
    formats: str,
    report_lang: str,
    no_progress: bool,
    checks_dirs: tuple[str, ...],
    tailoring: str | None,
) -> None:
    """Audit every host of INVENTORY; write results.json and evidence.json to OUTDIR."""
    from cisaudit.api import audit
    from cisaudit.inventory import load_inventory

    try:
        targets = load_inventory(inventory).select(_split(limit) or None)
    except SourceError as exc:
        _input_error(exc)
    # Only the packs these targets need (a recorded bundle can be of any kind).
    kinds = {t.kind for t in targets}
    catalog = _catalog(checks_dirs, tailoring, None if "bundle" in kinds else kinds)
    try:
        selection = _selection(catalog, benchmark, level, only, skip)
    except (SourceError, KeyError) as exc:
        _input_error(exc)
    outcome = _with_progress(
        lambda progress: audit(
            targets,
            selection=selection,
            concurrency=concurrency,
            timeout=timeout,
            accept_new_host_keys=accept_new_host_keys,
            catalog=catalog,
            progress=progress,
        ),
        len(targets),
        quiet=no_progress,
    )
    _finish(outcome, Path(outdir), gzip_evidence, formats, report_lang)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("evidence", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    "outdir",
    default="cisaudit-out",
    show_default=True,
    type=click.Path(file_okay=False),
)
@_selection_options
@click.option("--format", "formats", default="json", show_default=True)
@click.option("--report-lang", default="both", type=click.Choice(["en", "zh", "both"]))
@click.option(
    "--allow-modified-evidence",
    is_flag=True,
    help="Evaluate evidence whose sections no longer match their SHA-256; the results and "
    "reports then say so in a banner.",
)
@_catalog_options
@_lang_option
def evaluate(
    evidence: str,
    outdir: str,
    benchmark: str | None,
    level: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    formats: str,
    report_lang: str,
    allow_modified_evidence: bool,
    checks_dirs: tuple[str, ...],
    tailoring: str | None,
) -> None:
    """Re-evaluate a recorded EVIDENCE bundle offline (no network) into results.json.

    Every section's SHA-256 is checked first; evidence changed after it was recorded is
    refused (exit 2) unless --allow-modified-evidence is given."""
    from cisaudit.api import evaluate_bundle

    catalog = _catalog(checks_dirs, tailoring)
    try:
        selection = _selection(catalog, benchmark, level, only, skip)
        outcome = evaluate_bundle(
            Path(evidence),
            selection=selection,
            catalog=catalog,
            allow_modified_evidence=allow_modified_evidence,
        )
    except (SourceError, KeyError) as exc:
        _input_error(exc)
    _finish(
        outcome,
        Path(outdir),
        False,
        formats,
        report_lang,
        write_evidence=False,
        evidence_path=Path(evidence),
    )


@main.group()
def checks() -> None:
    """What is checked, how, why and how to fix it."""


@checks.command("list")
@click.option("--benchmark", default=None, help="Only this pack, e.g. cis-docker-1.6.0.")
@click.option("--section", default=None, help="Only this section, e.g. 5 or 1.1.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_catalog_options
@_lang_option
def checks_list(
    benchmark: str | None,
    section: str | None,
    as_json: bool,
    checks_dirs: tuple[str, ...],
    tailoring: str | None,
) -> None:
    """List controls: pack, id, the check deciding it, level, automated or manual, title."""
    from cisaudit.i18n import lang

    catalog = _catalog(checks_dirs, tailoring)
    try:
        packs = [catalog.get(benchmark)] if benchmark else list(catalog.packs.values())
    except KeyError as exc:
        _input_error(exc)
    rows = [
        c
        for b in packs
        for c in b.ordered()
        if not section
        or c.section == section
        or c.section.startswith(section + ".")
        or c.id.startswith(section + ".")
    ]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "benchmark": c.benchmark,
                        "id": c.id,
                        "check": c.check_slug,
                        "level": c.level,
                        "automated": c.automated,
                        "cis_assessment": c.cis_assessment,
                        "title": c.title,
                        "params": c.params,
                    }
                    for c in rows
                ],
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    table = Table(show_lines=False)
    for col in ("benchmark", "id", "check", "level", "mode", "title"):
        table.add_column(col)
    for c in rows:
        table.add_row(
            literal(c.benchmark),
            literal(c.id),
            literal(c.check_slug),
            f"L{c.level}",
            "automated" if c.automated else "manual",
            literal(c.title.get(lang()) or c.title["en"]),
        )
    out.print(table)


@checks.command("show")
@click.argument("control_id")
@click.option("--benchmark", default=None)
@_catalog_options
@_lang_option
def checks_show(
    control_id: str, benchmark: str | None, checks_dirs: tuple[str, ...], tailoring: str | None
) -> None:
    """Show a control (by id, or by its check's slug): what, why, how it is checked, how
    to fix it, and its parameters."""
    from cisaudit.i18n import lang

    catalog = _catalog(checks_dirs, tailoring)
    found = [
        c
        for b in catalog.packs.values()
        for c in b.ordered()
        if control_id in (c.id, c.check_slug) and (not benchmark or b.id == benchmark)
    ]
    if not found:
        _input_error(KeyError(f"no control or check {control_id!r}; see `cisaudit checks list`"))
    language = lang()
    for c in found:
        out.print(
            Text.assemble(
                literal(f"{c.benchmark} {c.id}", "bold"),
                literal(
                    f"  L{c.level}  {'automated' if c.automated else 'manual'}"
                    f" (CIS: {c.cis_assessment})  check: {c.check_slug}"
                ),
            )
        )
        out.print(literal(c.title.get(language) or c.title["en"], "bold"))
        for key in ("description", "rationale", "impact", "audit", "remediation"):
            if key in c.texts:
                out.print(Text("\n" + key, style="underline"))
                out.print(literal(c.texts[key].get(language) or c.texts[key]["en"]))
        if c.snippet:
            out.print(literal(f"\nsnippet ({c.snippet.get('kind')})", "underline"))
            out.print(literal(c.snippet.get("text", "")))
        if c.params:
            out.print(Text("\nparameters", style="underline"))
            for name, value in c.params.items():
                out.print(literal(f"{name} = {value!r}"))
        if c.check:
            out.print(Text("\ncheck", style="underline"))
            out.print(literal(json.dumps(c.check, ensure_ascii=False, indent=1)))
        for ref in c.references:
            out.print(literal(f"ref: {ref}"))


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "-o",
    "--output",
    "outdir",
    default="cisaudit-demo",
    show_default=True,
    type=click.Path(file_okay=False),
)
@click.option(
    "--profiles",
    default="hardened,weak,bare",
    show_default=True,
    help="Lab host profiles to start.",
)
@click.option("--keep", is_flag=True, help="Leave the lab hosts running afterwards.")
@click.option("--format", "formats", default="json", show_default=True)
@_lang_option
def demo(outdir: str, profiles: str, keep: bool, formats: str) -> None:
    """Start the built-in lab of real Docker hosts (needs root and docker.io) and audit it."""
    from cisaudit.api import audit
    from cisaudit.inventory import load_inventory

    try:
        from cisaudit_lab import LabUnavailable, build_host_image, ensure_engine, start_lab
    except ImportError:
        err.print(
            literal(
                "the demo needs the lab package: pip install ./lab (from a source "
                "checkout), or run scripts/demo.sh, which installs everything"
            )
        )
        sys.exit(EXIT_USAGE)

    workdir = Path(outdir).resolve() / "lab"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        err.print(
            "Starting the lab engine and building the host image (cached after the first run)..."
        )
        engine = ensure_engine()
        build_host_image(engine)
        lab = start_lab(_split((profiles,)), workdir=workdir, engine=engine)
    except LabUnavailable as exc:
        err.print(Text.assemble(("Lab unavailable: ", "red"), literal(exc)))
        sys.exit(EXIT_USAGE)
    try:
        err.print(literal(f"Lab inventory: {lab.inventory_path}"))
        targets = load_inventory(lab.inventory_path).select(None)
        outcome = _with_progress(lambda p: audit(targets, progress=p), len(targets), quiet=False)
    finally:
        if not keep:
            lab.stop()
    _finish(outcome, Path(outdir), False, formats, "both")


def _selection(
    catalog: Catalog,
    benchmark: str | None,
    level: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
) -> Selection:
    from cisaudit.api import Selection

    if benchmark and benchmark not in catalog.packs and benchmark in catalog.known:
        raise KeyError(f"benchmark {benchmark!r} is not for the kinds of target audited here")
    if benchmark:
        catalog.get(benchmark)  # KeyError names the known ones
    return Selection(benchmark=benchmark, level=level, only=_split(only), skip=_split(skip))


def _with_progress(
    fn: Callable[[ProgressFn | None], Outcome], total: int, *, quiet: bool
) -> Outcome:
    from cisaudit.i18n import t

    if quiet or not err.is_terminal:
        return fn(None)
    columns = (
        TextColumn(t("auditing")),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}", markup=False),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("scan", total=total, last="")

        def tick(name: str, evidence: TargetEvidence | None) -> None:
            mark = "✗" if evidence is not None and evidence.error else "✓"
            progress.update(task, advance=1, last=printable(f"{mark} {name}", one_line=True))

        return fn(tick)


def _finish(
    outcome: Outcome,
    outdir: Path,
    gzip_evidence: bool,
    formats: str,
    report_lang: str,
    write_evidence: bool = True,
    evidence_path: Path | None = None,
) -> None:
    from cisaudit.i18n import t

    evidence: Path | None
    if write_evidence:
        results, evidence = outcome.write(outdir, gzip_evidence=gzip_evidence)
    else:
        results, evidence = outcome.write_results(outdir), evidence_path
    _summary_table(outcome.run)
    if outcome.run.evidence_modified:
        err.print(
            literal(
                t("evidence_modified").format(
                    n=len(outcome.run.evidence_modified),
                    sections=", ".join(outcome.run.evidence_modified[:5]),
                ),
                "bold red",
            ),
            soft_wrap=True,
        )
    wanted = [f for f in _split((formats,)) if f != "json"]
    if wanted:
        from cisaudit.report import render

        for path in render(
            outcome.run, outdir, formats=wanted, lang=report_lang, evidence_path=evidence
        ):
            err.print(literal(f"{t('wrote')} {path}"), soft_wrap=True)
    err.print(
        literal(f"{t('wrote')} {results}" + (f", {evidence}" if write_evidence else "")),
        soft_wrap=True,
    )
    if outcome.run.interrupted:
        err.print(literal(t("interrupted"), "yellow"))
    code = outcome.exit_code
    err.print(f"{t('exit')} {code}")
    sys.exit(code)


def _summary_table(run: Run) -> None:
    from cisaudit.i18n import t
    from cisaudit.model import Status

    table = Table(title=literal(f"cisaudit {__version__}: {', '.join(run.benchmarks)}"))
    table.add_column(t("target"))
    for status in Status:
        table.add_column(t(status.value), justify="right")
    table.add_column(t("score"), justify="right")
    colours = {"PASS": "green", "FAIL": "red", "ERROR": "magenta"}
    for name, block in run.summary["targets"].items():
        counts = block["counts"]
        cells = [Text(str(counts[s.value]), style=colours.get(s.value, "")) for s in Status]
        score = "—" if block["score"] is None else f"{block['score']:.1f}"
        label = name if block["reachable"] else f"{name} ({t('unreachable')}: {block['error']})"
        table.add_row(literal(label), *cells, score, end_section=False)
    fleet = run.summary["fleet"]
    table.add_row(
        Text(t("fleet"), style="bold"),
        *[str(fleet["counts"][s.value]) for s in Status],
        "—" if fleet["score"] is None else f"{fleet['score']:.1f}",
        end_section=True,
    )
    err.print(table)


def _input_error(exc: BaseException) -> NoReturn:
    from cisaudit.i18n import t

    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    err.print(Text.assemble((f"{t('input_error')}: ", "red"), literal(message)), soft_wrap=True)
    sys.exit(EXIT_USAGE)


# The commands of the report package, listed here like every other command: an error in
# report/ fails loudly instead of silently removing report, keys and verify.
main.add_command(report_command)
main.add_command(keys_group)
main.add_command(verify_command)
