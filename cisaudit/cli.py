"""The ``cisaudit`` command: a thin shell over ``cisaudit.api``."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cisaudit import __version__
from cisaudit.cli_history import (
    COMMANDS as HISTORY_COMMANDS,
)
from cisaudit.cli_history import (
    RunStore,
    exit_code,
    notify,
    print_drift,
    run_store_options,
)
from cisaudit.report.cli import keys_group, report_command, verify_command
from cisaudit.score import EXIT_CODES_HELP, EXIT_USAGE
from cisaudit.termtext import console, literal, printable
from cisaudit.waivers import DEFAULT_MAX_DAYS
from cisaudit.yamlsrc import SourceError

if TYPE_CHECKING:
    from cisaudit.api import Outcome, ProgressFn, Selection
    from cisaudit.catalog import Catalog
    from cisaudit.evidence import TargetEvidence
    from cisaudit.imagepolicy import ImagePolicy, ScanIndex
    from cisaudit.model import Run
    from cisaudit.report.signing import SignConfig
    from cisaudit.waivers import KnownControls, WaiverSet

Command = Callable[..., Any]

# Plain strings printed on these consoles are never markup: every styled piece is a Text
# built here, and every foreign string (host names, errors, titles) is printed literally.
err = console(stderr=True)
out = console()


def _split(values: tuple[str, ...]) -> list[str]:
    return [p for v in values for p in v.split(",") if p.strip()]


def _split_option(f: Command) -> Command:
    return click.option(
        "--split-by",
        type=click.Choice(["target", "group"]),
        default=None,
        help="With pdf in --format: also one signed detail PDF per target or group "
        "(docs/reports.md, fleet reports).",
    )(f)


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


def _policy_options(f: Command) -> Command:
    f = click.option(
        "--scanner-report",
        "scanner_reports",
        multiple=True,
        help="Trivy (SchemaVersion 2) or Grype JSON report of an image, or a folder of them; "
        "repeatable. Matched to images by image id or digest (needs --policy).",
    )(f)
    f = click.option(
        "--policy",
        "policy_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Image policy file: approved registries, tags, golden bases, users, packages, "
        "vulnerabilities (docs/image-policy.md). Adds the image-policy pack.",
    )(f)
    return f


def _check_executor(executor: str) -> None:
    """A bad executor, or a Dask scheduler that does not answer, is exit 2 before any work."""
    from cisaudit.scale import ExecutorUnavailable, parse_executor, reachable

    try:
        address = parse_executor(executor)
        if address is not None:
            reachable(address)
    except (ValueError, ExecutorUnavailable) as exc:
        err.print(Text.assemble(("error: ", "red"), literal(exc)))
        sys.exit(EXIT_USAGE)


def _image_policy(
    policy_path: str | None, scanner_reports: tuple[str, ...]
) -> tuple[ImagePolicy | None, ScanIndex | None]:
    """The policy and scanner reports; a bad file exits 2 naming it (and its line)."""
    if scanner_reports and not policy_path:
        _input_error(
            SourceError(scanner_reports[0], None, "--scanner-report needs --policy (the rules)")
        )
    if not policy_path:
        return None, None
    from cisaudit.imagepolicy import load_policy, load_reports

    try:
        policy = load_policy(policy_path)
        scans = load_reports(list(scanner_reports)) if scanner_reports else None
    except SourceError as exc:
        _input_error(exc)
    return policy, scans


def _framework_option(f: Command) -> Command:
    return click.option(
        "--framework",
        "frameworks",
        multiple=True,
        help="Frameworks to roll up and render, e.g. mlps-2.0-l3,pci-dss-4.0.1 (default: every "
        "framework mapped onto the benchmarks audited; see `cisaudit frameworks list`).",
    )(f)


def _waiver_options(f: Command) -> Command:
    f = click.option(
        "--waiver-max-days",
        default=DEFAULT_MAX_DAYS,
        show_default=True,
        type=click.IntRange(1, 3650),
        help="Longest validity a waiver may have; a longer one is refused.",
    )(f)
    f = click.option(
        "--waivers",
        "waivers_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Waiver file: accepted risks with approver, ticket and expiry (docs/waivers.md).",
    )(f)
    return f


def _known_controls(checks_dirs: tuple[str, ...] = ()) -> KnownControls:
    """Every control of every pack (all kinds), which is what a waiver file may name."""
    from cisaudit.waivers import KnownControl, KnownControls

    catalog = _catalog(checks_dirs)
    return KnownControls(
        KnownControl(pack.id, c.id, c.check_slug)
        for pack in catalog.packs.values()
        for c in pack.controls.values()
    )


def _waivers(
    path: str | None, max_days: int, checks_dirs: tuple[str, ...] = ()
) -> WaiverSet | None:
    """The validated waiver file, or exit 2 naming its file and line."""
    if not path:
        return None
    from cisaudit.waivers import load_waivers

    try:
        return load_waivers(Path(path), _known_controls(checks_dirs), max_days=max_days)
    except SourceError as exc:
        _input_error(exc)


def _catalog(
    checks_dirs: tuple[str, ...] = (),
    tailoring: str | None = None,
    kinds: set[str] | None = None,
    policy: bool = False,
) -> Catalog:
    """The catalog with the user's packs and tailoring (only the packs for ``kinds`` of
    target, when given); input errors exit 2."""
    from cisaudit.api import load_catalog, load_tailoring

    try:
        return load_catalog(
            extra=[Path(d) for d in checks_dirs],
            tailoring=load_tailoring(Path(tailoring)) if tailoring else None,
            kinds=kinds,
            policy=policy,
        )
    except (SourceError, KeyError) as exc:
        _input_error(exc)


class Group(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text(EXIT_CODES_HELP)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="cisaudit")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Agentless CIS benchmark audits of Docker hosts (and Kubernetes) over SSH."""
    # The report commands read only results; what they need of the catalog (the
    # controls a waiver may name, framework definitions) they ask of these providers.
    from cisaudit.cli_history import history_for_results, stored_run_for_report

    ctx.obj = {
        "known_controls": _known_controls,
        "frameworks": lambda: {f.id: f.to_dict() for f in _catalog().frameworks.values()},
        "stored_run": stored_run_for_report,
        "history_for": history_for_results,
    }
    # The SSH libraries log every dropped connection (paramiko with a traceback);
    # cisaudit reports the reason per target itself, so their logs stay quiet unless
    # asked for (CISAUDIT_DEBUG=1).
    if not os.environ.get("CISAUDIT_DEBUG"):
        for name in ("asyncssh", "paramiko"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


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
    help="Targets audited at once (per worker with --executor dask://).",
)
@click.option(
    "--executor",
    default="local",
    show_default=True,
    help="local, or dask://HOST:PORT: collect on a Dask cluster's workers (docs/scale.md).",
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
    help="Also render reports: json plus any of pdf,html,csv,junit,sarif,xlsx.",
)
@click.option(
    "--report-lang",
    default="both",
    type=click.Choice(["en", "zh", "both"]),
    help="Language of rendered reports.",
)
@_split_option
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (implied when stderr is not a terminal)."
)
@_framework_option
@_waiver_options
@run_store_options
@_catalog_options
@_policy_options
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
    split_by: str | None,
    no_progress: bool,
    frameworks: tuple[str, ...],
    waivers_path: str | None,
    waiver_max_days: int,
    store_url: str | None,
    no_store: bool,
    scope: str | None,
    baseline: str | None,
    fail_on: str,
    notify_urls: tuple[str, ...],
    checks_dirs: tuple[str, ...],
    tailoring: str | None,
    policy_path: str | None,
    scanner_reports: tuple[str, ...],
    executor: str,
) -> None:
    """Audit every host of INVENTORY; write results.json and evidence.json to OUTDIR and
    keep the run in the store (history, diff, trend)."""
    from cisaudit.api import audit
    from cisaudit.inventory import load_inventory

    try:
        targets = load_inventory(inventory).select(_split(limit) or None)
    except SourceError as exc:
        _input_error(exc)
    # Only the packs these targets need (a recorded bundle can be of any kind).
    kinds = {t.kind for t in targets}
    _check_executor(executor)
    policy, scans = _image_policy(policy_path, scanner_reports)
    catalog = _catalog(
        checks_dirs, tailoring, None if "bundle" in kinds else kinds, policy=policy is not None
    )
    try:
        selection = replace(
            _selection(catalog, benchmark, level, only, skip, frameworks),
            policy=policy,
            scans=scans,
        )
    except (SourceError, KeyError) as exc:
        _input_error(exc)
    waivers = _waivers(waivers_path, waiver_max_days, checks_dirs)
    _check_notify(notify_urls)
    from cisaudit.history import inventory_sha256, scan_scope

    scope = scope or scan_scope(
        inventory,
        _split(limit),
        {"benchmark": benchmark, "level": level, "only": _split(only), "skip": _split(skip)},
    )
    session = RunStore.open(store_url, not no_store, scope)
    with session.locked():
        outcome = _with_progress(
            lambda progress: audit(
                targets,
                selection=selection,
                concurrency=concurrency,
                timeout=timeout,
                accept_new_host_keys=accept_new_host_keys,
                catalog=catalog,
                progress=progress,
                waivers=waivers,
                executor=executor,
            ),
            len(targets),
            quiet=no_progress,
        )
        outcome.run.options["scope"] = scope
        _finish(
            outcome,
            Path(outdir),
            gzip_evidence,
            formats,
            report_lang,
            history=_History(
                session, "scan", inventory_sha256(inventory), baseline, fail_on, notify_urls
            ),
            split_by=split_by,
        )


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
@_split_option
@click.option(
    "--allow-modified-evidence",
    is_flag=True,
    help="Evaluate evidence whose sections no longer match their SHA-256; the results and "
    "reports then say so in a banner.",
)
@_framework_option
@_waiver_options
@run_store_options
@_catalog_options
@_policy_options
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
    split_by: str | None,
    allow_modified_evidence: bool,
    frameworks: tuple[str, ...],
    waivers_path: str | None,
    waiver_max_days: int,
    store_url: str | None,
    no_store: bool,
    scope: str | None,
    baseline: str | None,
    fail_on: str,
    notify_urls: tuple[str, ...],
    checks_dirs: tuple[str, ...],
    tailoring: str | None,
    policy_path: str | None,
    scanner_reports: tuple[str, ...],
) -> None:
    """Re-evaluate a recorded EVIDENCE bundle offline (no network) into results.json.

    Every section's SHA-256 is checked first; evidence changed after it was recorded is
    refused (exit 2) unless --allow-modified-evidence is given."""
    from cisaudit.api import evaluate_bundle

    policy, scans = _image_policy(policy_path, scanner_reports)
    catalog = _catalog(checks_dirs, tailoring, policy=policy is not None)
    waivers = _waivers(waivers_path, waiver_max_days, checks_dirs)
    try:
        selection = replace(
            _selection(catalog, benchmark, level, only, skip, frameworks),
            policy=policy,
            scans=scans,
        )
        outcome = evaluate_bundle(
            Path(evidence),
            selection=selection,
            catalog=catalog,
            allow_modified_evidence=allow_modified_evidence,
            waivers=waivers,
        )
    except (SourceError, KeyError) as exc:
        _input_error(exc)
    _check_notify(notify_urls)
    scope = (
        scope or outcome.run.options.get("recorded_scope") or f"evidence:{Path(evidence).resolve()}"
    )
    outcome.run.options["scope"] = scope
    session = RunStore.open(store_url, not no_store, scope)
    _finish(
        outcome,
        Path(outdir),
        False,
        formats,
        report_lang,
        write_evidence=False,
        evidence_path=Path(evidence),
        history=_History(session, "evaluate", None, baseline, fail_on, notify_urls),
        split_by=split_by,
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
        if c.mappings:
            out.print(Text("\nframeworks", style="underline"))
            for framework_id, items in sorted(c.mappings.items()):
                out.print(literal(f"{framework_id}: {', '.join(items)}"))
        for ref in c.references:
            out.print(literal(f"ref: {ref}"))


@main.group()
def frameworks() -> None:
    """Compliance frameworks (等保 2.0, PCI DSS, ISO 27001, CIS Controls) and their mappings."""


@frameworks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_catalog_options
@_lang_option
def frameworks_list(as_json: bool, checks_dirs: tuple[str, ...], tailoring: str | None) -> None:
    """Every framework: its id, name, items, and how many the checks cover."""
    from cisaudit.i18n import lang

    catalog = _catalog(checks_dirs, tailoring)
    rows: list[dict[str, Any]] = []
    for framework in catalog.frameworks.values():
        coverage = {
            c: sum(1 for i in framework.items if i.coverage == c)
            for c in ("full", "partial", "none")
        }
        rows.append(
            {
                "id": framework.id,
                "name": framework.name,
                "standard": framework.standard,
                "vocabulary": framework.vocabulary,
                "items": len(framework.items),
                "coverage": coverage,
                "packs": sorted(framework.packs()),
                "params": framework.params,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    language = lang()
    table = Table()
    table.add_column("id", no_wrap=True)
    for col in ("items", "full", "partial", "none"):
        table.add_column(col, justify="right")
    table.add_column("name")
    for row in rows:
        table.add_row(
            literal(row["id"]),
            str(row["items"]),
            str(row["coverage"]["full"]),
            str(row["coverage"]["partial"]),
            str(row["coverage"]["none"]),
            literal(row["name"].get(language) or row["name"].get("en", "")),
        )
    out.print(table)


@frameworks.command("show")
@click.argument("framework_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_catalog_options
@_lang_option
def frameworks_show(
    framework_id: str, as_json: bool, checks_dirs: tuple[str, ...], tailoring: str | None
) -> None:
    """Show a framework's items and the controls that give evidence for each."""
    from cisaudit.i18n import lang

    catalog = _catalog(checks_dirs, tailoring)
    framework = catalog.frameworks.get(framework_id)
    if framework is None:
        _input_error(
            KeyError(
                f"unknown framework {framework_id!r}; known: {', '.join(sorted(catalog.frameworks))}"
            )
        )
    if as_json:
        click.echo(json.dumps(framework.to_dict(), ensure_ascii=False, indent=1))
        return
    language = lang()

    def text(value: dict[str, str]) -> str:
        return value.get(language) or value.get("en") or value.get("zh") or ""

    out.print(literal(f"{framework.id}: {text(framework.name)}", "bold"))
    if framework.standard:
        out.print(literal(text(framework.standard)))
    if framework.description:
        out.print(literal(text(framework.description)))
    for slug, values in framework.params.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        out.print(literal(f"parameter: {slug}: {shown}"))
    titles = {
        f"{pack.id}/{c.id}": c.title.get(language) or c.title["en"]
        for pack in catalog.packs.values()
        for c in pack.controls.values()
    }
    for item in framework.items:
        where = " ".join(p for p in (item.clause, text(item.layer), text(item.control_point)) if p)
        out.print(Text())
        out.print(
            Text.assemble(
                literal(item.id, "bold"),
                literal(f"  [{item.coverage}]  {where}"),
            )
        )
        out.print(literal(text(item.title)))
        for role, keys in (("controls", item.controls), ("supporting", item.supporting)):
            for key in keys:
                out.print(literal(f"  {role}: {key}  {titles.get(key, '')}"))
        if item.note:
            out.print(literal(f"  note: {text(item.note)}", "dim"))


@main.group()
def waivers() -> None:
    """Waiver files: accepted risks with an approver, a ticket and an expiry."""


@waivers.command("check")
@click.argument("waiver_file", type=click.Path(dir_okay=False))
@click.option(
    "-i",
    "--inventory",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also check which targets of this inventory each waiver covers.",
)
@click.option(
    "--max-days",
    default=DEFAULT_MAX_DAYS,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Longest validity a waiver may have.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--checks",
    "checks_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Folders of your own packs, whose controls waivers may name.",
)
@_lang_option
def waivers_check(
    waiver_file: str,
    inventory: str | None,
    max_days: int,
    as_json: bool,
    checks_dirs: tuple[str, ...],
) -> None:
    """Lint WAIVER_FILE before use: exit 2 when it is invalid (the file and line named),
    1 when a waiver has expired or covers no target of the inventory, 0 otherwise."""
    import datetime as dt

    from cisaudit.waivers import EXPIRING_SOON_DAYS

    loaded = _waivers(waiver_file, max_days, checks_dirs)
    assert loaded is not None
    targets = None
    if inventory:
        from cisaudit.inventory import load_inventory

        try:
            targets = load_inventory(inventory).select(None)
        except SourceError as exc:
            _input_error(exc)
    today = dt.date.today()
    rows, problems = [], 0
    for waiver in loaded:
        days = (waiver.expires - today).days
        state = "expired" if days < 0 else ("expiring" if days <= EXPIRING_SOON_DAYS else "valid")
        covered = None
        if targets is not None:
            from cisaudit.model import TargetResult

            covered = [
                t.name
                for t in targets
                if waiver.covers_target(
                    TargetResult(name=t.name, kind=t.kind, groups=list(t.groups))
                )
            ]
        problems += state == "expired" or covered == []
        rows.append({**waiver.describe(), "state": state, "days_left": days, "covers": covered})
    if as_json:
        click.echo(json.dumps({"file": waiver_file, "waivers": rows}, ensure_ascii=False, indent=1))
    else:
        table = Table(title=literal(f"{waiver_file}: {len(rows)} waiver(s), valid"))
        for col in ("id", "state", "expires", "controls", "targets", "approved_by", "ticket"):
            table.add_column(col)
        if targets is not None:
            table.add_column("covers")
        for row in rows:
            colour = {"expired": "red", "expiring": "yellow"}.get(row["state"], "green")
            cells = [
                literal(row["id"]),
                literal(f"{row['state']} ({row['days_left']} d)", colour),
                row["expires"],
                literal(", ".join(row["controls"])),
                literal(", ".join(row["targets"] + [f"[{o}]" for o in row["objects"]])),
                literal(row["approved_by"]),
                literal(row["ticket"]),
            ]
            if targets is not None:
                names = row["covers"] or []
                shown = ", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else "")
                cells.append(literal(shown or "NO TARGET", "" if names else "red"))
            table.add_row(*cells)
        out.print(table)
    sys.exit(1 if problems else 0)


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
    sign = _demo_signer(Path(outdir)) if "pdf" in _split((formats,)) else None
    note = None
    if sign is not None:
        note = (
            f"The PDF is signed with a throwaway DEMO key ({sign.cert}), made for this demo "
            "only; it proves nothing about who audited. See the signature at work:\n"
            f"  cisaudit verify {Path(outdir) / 'report.pdf'} --trust {sign.cert}\n"
            "Sign real reports with your own key: cisaudit keys init, then "
            "cisaudit report --sign-key/--sign-cert."
        )
    _finish(outcome, Path(outdir), False, formats, "both", sign=sign, note=note)


DEMO_SIGNER = "cisaudit DEMO signer - throwaway key, not for assessments"


def _demo_signer(outdir: Path) -> SignConfig:
    """A throwaway key and certificate under ``outdir/demo-signing`` (made once, then reused),
    named so that no reader can take the demo's signature for an assessor's."""
    from cisaudit.report.signing import SignConfig, init_keys

    keydir = outdir / "demo-signing"
    key, cert = keydir / "signing-key.pem", keydir / "signing-cert.pem"
    if not (key.is_file() and cert.is_file()):
        init_keys(
            keydir, common_name=DEMO_SIGNER, organisation="cisaudit demo", days=30, overwrite=True
        )
    return SignConfig(
        key=key,
        cert=cert,
        reason="DEMO signature made by `cisaudit demo` with a throwaway key",
        location="cisaudit demo lab",
    )


def _selection(
    catalog: Catalog,
    benchmark: str | None,
    level: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    frameworks: tuple[str, ...] = (),
) -> Selection:
    from cisaudit.api import Selection

    if benchmark and benchmark not in catalog.packs and benchmark in catalog.known:
        raise KeyError(f"benchmark {benchmark!r} is not for the kinds of target audited here")
    if benchmark:
        catalog.get(benchmark)  # KeyError names the known ones
    named = _split(frameworks)
    unknown = [f for f in named if f not in catalog.frameworks]
    if unknown:
        raise KeyError(
            f"unknown framework(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(catalog.frameworks))} (cisaudit frameworks list)"
        )
    return Selection(
        benchmark=benchmark,
        level=level,
        only=_split(only),
        skip=_split(skip),
        frameworks=named or None,
    )


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


@dataclass
class _History:
    """What a scan or evaluate does with the store after the audit."""

    session: RunStore
    kind: str
    inventory_sha256: str | None
    baseline: str | None
    fail_on: str
    notify: tuple[str, ...]


def _check_notify(urls: tuple[str, ...]) -> None:
    from cisaudit.notify import parse

    for url in urls:
        try:
            parse(url)
        except ValueError as exc:
            _input_error(exc)


def _finish(
    outcome: Outcome,
    outdir: Path,
    gzip_evidence: bool,
    formats: str,
    report_lang: str,
    write_evidence: bool = True,
    evidence_path: Path | None = None,
    history: _History | None = None,
    sign: SignConfig | None = None,
    note: str | None = None,
    split_by: str | None = None,
) -> None:
    from cisaudit.i18n import t

    evidence: Path | None
    if write_evidence:
        results, evidence = outcome.write(outdir, gzip_evidence=gzip_evidence)
    else:
        results, evidence = outcome.write_results(outdir), evidence_path
    _summary_table(outcome.run)
    found = None
    past = None
    if history is not None:
        history.session.save(
            outcome.run,
            outcome.evidence,
            kind=history.kind,
            inventory_sha256=history.inventory_sha256,
            # the evidence file's own header, so that the stored evidence rebuilds it
            evidence_meta={
                "run_id": outcome.run.run_id,
                "tool": {"name": "cisaudit", "version": __version__},
                "scope": outcome.run.options.get("scope"),
            }
            if write_evidence
            else None,
        )
        found = history.session.baseline(outcome.run, history.baseline)
        if found is not None:
            print_drift(found)
        for note in history.session.notes:
            err.print(literal(note))
        past = history.session.history_view(outcome.run)
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
        from cisaudit.report.cli import detail_progress
        from cisaudit.report.split import SplitError, group_written

        split = split_by if "pdf" in wanted else None
        try:
            with detail_progress(split) as progress:
                written = render(
                    outcome.run,
                    outdir,
                    formats=wanted,
                    lang=report_lang,
                    evidence_path=evidence,
                    history=past,
                    sign=sign,
                    split_by=split,
                    progress=progress,
                )
        except SplitError as exc:  # the audit stands; the reports that failed are named
            written = exc.written
            for failure in exc.failures:
                err.print(literal(f"error: {failure.part}: {failure.error}", "red"), soft_wrap=True)
        single, folders = group_written(written)
        for path in single:
            err.print(literal(f"{t('wrote')} {path}"), soft_wrap=True)
        for folder, count in folders.items():
            err.print(literal(f"{t('wrote')} {count} × {folder}/*.pdf"), soft_wrap=True)
    err.print(
        literal(f"{t('wrote')} {results}" + (f", {evidence}" if write_evidence else "")),
        soft_wrap=True,
    )
    if outcome.run.interrupted:
        err.print(literal(t("interrupted"), "yellow"))
    if note:
        err.print(literal(note, "yellow"), soft_wrap=True)
    code = outcome.exit_code
    if history is not None:
        notify(history.notify, outcome.run, found, history.session)
        code = exit_code(code, found, history.fail_on, history.session)
    err.print(f"{t('exit')} {code}")
    sys.exit(code)


def _summary_table(run: Run) -> None:
    from cisaudit.i18n import t
    from cisaudit.model import Status

    waived = run.waivers is not None

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    table = Table(title=literal(f"cisaudit {__version__}: {', '.join(run.benchmarks)}"))
    table.add_column(t("target"))
    for status in Status:
        table.add_column(t(status.value), justify="right")
    table.add_column(t("score"), justify="right")
    if waived:
        table.add_column(t("score_without_waivers"), justify="right")
    colours = {"PASS": "green", "FAIL": "red", "ERROR": "magenta"}
    for name, block in run.summary["targets"].items():
        counts = block["counts"]
        cells = [Text(str(counts[s.value]), style=colours.get(s.value, "")) for s in Status]
        label = name if block["reachable"] else f"{name} ({t('unreachable')}: {block['error']})"
        extra = [fmt(block["score_without_waivers"])] if waived else []
        table.add_row(literal(label), *cells, fmt(block["score"]), *extra, end_section=False)
    fleet = run.summary["fleet"]
    table.add_row(
        Text(t("fleet"), style="bold"),
        *[str(fleet["counts"][s.value]) for s in Status],
        fmt(fleet["score"]),
        *([fmt(fleet["score_without_waivers"])] if waived else []),
        end_section=True,
    )
    err.print(table)
    _frameworks_table(run, fmt)
    _waiver_notes(run)


def _frameworks_table(run: Run, fmt: Callable[[float | None], str]) -> None:
    from cisaudit.i18n import t
    from cisaudit.rollup import COMPLIANT, NON_COMPLIANT, NOT_COVERED, PARTIAL

    if not run.frameworks:
        return
    table = Table(title=t("frameworks_title"))
    table.add_column(t("framework"), no_wrap=True)
    for key in ("v_compliant", "v_partial", "v_non_compliant", "other", "v_not_covered"):
        table.add_column(t(key), justify="right")
    table.add_column(t("score"), justify="right")
    if run.waivers is not None:
        table.add_column(t("score_without_waivers"), justify="right")
    for fid, framework in run.frameworks.items():
        fleet = framework["summary"]["fleet"]
        counts = fleet["counts"]
        main_counts = [counts.get(v, 0) for v in (COMPLIANT, PARTIAL, NON_COMPLIANT)]
        other = sum(counts.values()) - sum(main_counts) - counts.get(NOT_COVERED, 0)
        extra = [fmt(fleet["score_without_waivers"])] if run.waivers is not None else []
        table.add_row(
            literal(fid),
            *[str(n) for n in main_counts],
            str(other),
            str(counts.get(NOT_COVERED, 0)),
            fmt(fleet["score"]),
            *extra,
        )
    err.print(table)


def _waiver_notes(run: Run) -> None:
    from cisaudit.i18n import t

    if not run.waivers:
        return
    register = run.waivers["waivers"]
    applied = [w for w in register if w["state"] == "active"]
    err.print(
        literal(
            t("waivers_applied").format(
                n=len(applied), results=sum(len(w["covered"]) for w in applied)
            )
        )
    )
    for key, style in (("expired", "yellow"), ("unused", "yellow")):
        ids = run.waivers.get(key) or []
        if ids:
            err.print(
                literal(t(f"waivers_{key}").format(ids=", ".join(ids)), style), soft_wrap=True
            )
    soon = [w["id"] for w in register if w.get("expiring_soon")]
    if soon:
        err.print(literal(t("waivers_expiring").format(ids=", ".join(soon))), soft_wrap=True)


def _input_error(exc: BaseException) -> NoReturn:
    from cisaudit.i18n import t

    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    err.print(Text.assemble((f"{t('input_error')}: ", "red"), literal(message)), soft_wrap=True)
    sys.exit(EXIT_USAGE)


# The commands of the report package, listed here like every other command: an error in
# report/ fails loudly instead of silently removing report, keys and verify.
@main.group()
def images() -> None:
    """Image governance helpers (the rules themselves go in --policy; docs/image-policy.md)."""


@images.group()
def golden() -> None:
    """Golden base images."""


@golden.command("export")
@click.argument("image")
@click.option(
    "--docker-host",
    default=None,
    help="Engine to ask (default: $DOCKER_HOST, else the local socket).",
)
@click.option(
    "--evidence",
    "evidence_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Read the image from a recorded evidence file instead of an engine.",
)
@click.option("--target", default=None, help="With --evidence: the target holding the image.")
@click.option("--name", default=None, help="Name to give the base in the policy (default: IMAGE).")
def golden_export(
    image: str,
    docker_host: str | None,
    evidence_path: str | None,
    target: str | None,
    name: str | None,
) -> None:
    """Print IMAGE's layer diff ids as a golden_bases entry to paste into a policy."""
    layers = (
        _layers_from_evidence(Path(evidence_path), target, image)
        if evidence_path
        else _layers_from_engine(docker_host, image)
    )
    out.print(literal(f"# {image}: {len(layers)} layers"))
    out.print(literal(f"- name: {json.dumps(name or image)}\n  diff_ids:"))
    for layer in layers:
        out.print(literal(f"    - {layer}"))


def _layers_from_engine(docker_host: str | None, image: str) -> list[str]:
    import docker
    from docker.errors import DockerException

    try:
        api = docker.APIClient(
            base_url=docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        )
        layers = api.inspect_image(image).get("RootFS", {}).get("Layers") or []
    except DockerException as exc:
        err.print(literal(f"error: {image}: {exc}"))
        sys.exit(EXIT_USAGE)
    return [str(layer) for layer in layers]


def _layers_from_evidence(path: Path, target: str | None, image: str) -> list[str]:
    from cisaudit.evidence import EvidenceError, load_bundle

    try:
        bundle = load_bundle(path)
    except EvidenceError as exc:
        _input_error(exc)
    for item in bundle.targets:
        if target and item.name != target:
            continue
        section = item.sections.get("docker.images")
        try:
            found = json.loads(section.output) if section and section.rc == 0 else []
        except ValueError:
            found = []
        for entry in found if isinstance(found, list) else []:
            refs = [*(entry.get("RepoTags") or []), *(entry.get("RepoDigests") or [])]
            if image in refs or str(entry.get("Id", "")).startswith(image):
                return [str(d) for d in (entry.get("RootFS") or {}).get("Layers") or []]
    err.print(literal(f"error: {image} is not among the images recorded in {path}"))
    sys.exit(EXIT_USAGE)


main.add_command(report_command)
main.add_command(keys_group)
main.add_command(verify_command)
for _command in HISTORY_COMMANDS:
    main.add_command(_command)
