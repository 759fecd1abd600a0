"""The history side of the command line: storing runs (options of ``scan`` and
``evaluate``), ``history``, ``diff``, ``trend``, ``prune`` and ``dashboard``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.table import Table
from rich.text import Text

from cisaudit.score import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from cisaudit.termtext import console, literal

if TYPE_CHECKING:
    from cisaudit.drift import Drift
    from cisaudit.model import Run
    from cisaudit.store import Store

Command = Callable[..., Any]
TREND_COLUMNS = 6  # runs shown side by side by `cisaudit trend` (--json has them all)
err = console(stderr=True)
out = console()


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    from cisaudit.i18n import t

    err.print(Text.assemble((f"{t('input_error')}: ", "red"), literal(message)), soft_wrap=True)
    sys.exit(code)


def store_option(f: Command) -> Command:
    from cisaudit.store import default_url

    return click.option(
        "--store",
        "store_url",
        default=None,
        metavar="URL",
        help="Where runs are kept: sqlite:///path.db or postgresql://user@host:5432/db "
        f"(also CISAUDIT_STORE; default {default_url()}).",
    )(f)


def run_store_options(f: Command) -> Command:
    """Options of the commands that make a run (scan, evaluate)."""
    f = click.option(
        "--notify",
        "notify_urls",
        multiple=True,
        metavar="URL",
        envvar="CISAUDIT_NOTIFY",
        help="Post a JSON drift summary after the run; presets: dingtalk+URL, wecom+URL, "
        "feishu+URL, slack+URL (docs/history.md). Repeatable; also CISAUDIT_NOTIFY "
        "(space-separated), which keeps tokens off the command line.",
    )(f)
    f = click.option(
        "--fail-on",
        type=click.Choice(["any", "new"]),
        default="any",
        show_default=True,
        help="new: exit 1 only for failures the baseline run did not have.",
    )(f)
    f = click.option(
        "--baseline",
        default=None,
        metavar="last|RUN",
        help="Run to compare with (default with --fail-on new: the last run of this scope).",
    )(f)
    f = click.option(
        "--scope",
        default=None,
        help="Name of what is audited, for history and diff (default: the inventory file, "
        "--limit and the control selection; for evaluate, the scope recorded in the evidence).",
    )(f)
    f = click.option("--no-store", is_flag=True, help="Do not keep this run in the store.")(f)
    return store_option(f)


@dataclass
class RunStore:
    """The store side of one scan or evaluate: opened (or why not), locked, saved."""

    url: str | None
    enabled: bool
    scope: str
    store: Store | None = None
    problem: str = ""
    stored: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, url: str | None, enabled: bool, scope: str) -> RunStore:
        session = cls(url, enabled, scope)
        if not enabled:
            return session
        from cisaudit.store import Store, StoreError

        try:
            session.store = Store(url)
        except StoreError as exc:
            session.problem = str(exc)
            err.print(
                literal(
                    f"The store cannot be used ({exc}): this run will NOT be stored.", "yellow"
                ),
                soft_wrap=True,
            )
        return session

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the scope's lock while auditing; a second audit of the scope is skipped."""
        from cisaudit.store import StoreError, StoreLocked

        if self.store is None:
            yield
            return
        try:
            with self.store.lock(self.scope):
                yield
        except StoreLocked as exc:
            err.print(literal(f"Skipped: {exc}. Nothing was audited.", "yellow"), soft_wrap=True)
            sys.exit(EXIT_INCOMPLETE)
        except StoreError as exc:  # the lock itself could not be taken: audit anyway
            self.problem = str(exc)
            self.store = None
            err.print(
                literal(f"Store unavailable ({exc}): this run will NOT be stored.", "yellow"),
                soft_wrap=True,
            )
            yield

    def save(
        self,
        run: Run,
        evidence: Any,
        *,
        kind: str,
        inventory_sha256: str | None,
        evidence_meta: dict[str, Any] | None = None,
    ) -> None:
        from cisaudit.store import StoreError

        if self.store is None:
            return
        try:
            saved = self.store.save(
                run,
                evidence,
                scope=self.scope,
                kind=kind,
                inventory_sha256=inventory_sha256,
                evidence_meta=evidence_meta or {"run_id": run.run_id, "scope": self.scope},
            )
        except StoreError as exc:
            self.problem = str(exc)
            err.print(literal(f"The run was NOT stored: {exc}", "red"), soft_wrap=True)
            return
        self.stored = True
        err.print(
            literal(f"Stored run {saved.id[:12]} in {self.store.where} (scope {self.scope})"),
            soft_wrap=True,
        )

    def baseline(self, run: Run, ref: str | None) -> Drift | None:
        """The drift from the baseline run (``last``: the previous run of the scope)."""
        from cisaudit.history import drift, previous_run
        from cisaudit.store import StoreError

        if self.store is None or not self.stored:
            return None
        try:
            if ref in (None, "last"):
                base = previous_run(self.store, run, self.scope)
            else:
                base = self.store.resolve(str(ref))
            if base is None:
                self.notes.append("no earlier run of this scope is stored: nothing to compare")
                return None
            return drift(self.store, base, run.run_id)
        except StoreError as exc:
            self.problem = str(exc)
            err.print(literal(f"Cannot compare with the baseline: {exc}", "red"), soft_wrap=True)
            return None

    def history_view(self, run: Run) -> dict[str, Any] | None:
        from cisaudit.history import history_view
        from cisaudit.store import StoreError

        if self.store is None or not self.stored:
            return None
        try:
            return history_view(self.store, run, self.scope)
        except StoreError:
            return None


def print_drift(found: Drift, *, limit: int = 15) -> None:
    counts = found.counts
    err.print(
        literal(
            f"Since {found.a['started_at']} (run {found.a['run'][:12]}): "
            f"{counts['new_failures']} new failure(s), {counts['fixed']} fixed, "
            f"{counts['still_failing']} still failing, {counts['changed']} other change(s)"
            + (f", {counts['targets_added']} target(s) added" if counts["targets_added"] else "")
            + (f", {counts['targets_removed']} removed" if counts["targets_removed"] else ""),
            "bold",
        ),
        soft_wrap=True,
    )
    for note in found.notes:
        err.print(literal(f"  note: {note}", "yellow"), soft_wrap=True)
    for row in found.new_failures[:limit]:
        err.print(
            literal(f"  + {row['target']}  {row['control']}  {row['object']}".rstrip(), "red")
        )
    if len(found.new_failures) > limit:
        err.print(literal(f"  + ... {len(found.new_failures) - limit} more (cisaudit diff)"))
    for row in found.fixed[:limit]:
        err.print(
            literal(f"  - {row['target']}  {row['control']}  {row['object']}".rstrip(), "green")
        )


def exit_code(base: int, found: Drift | None, fail_on: str, session: RunStore) -> int:
    """The exit code with --fail-on and the store's state: a run that should have been
    stored and was not, or could not be compared, is incomplete (3)."""
    code = base
    if fail_on == "new":
        if found is None and (session.problem or not session.enabled):
            err.print(
                literal("--fail-on new needs the store and a baseline: exit 3."), soft_wrap=True
            )
            return EXIT_INCOMPLETE
        new = found.new_failures if found is not None else None
        if new is None:  # no baseline: every failure is new
            code = base
        elif base == EXIT_INCOMPLETE:
            code = EXIT_INCOMPLETE
        else:
            code = EXIT_FAIL if new else EXIT_OK
    if session.enabled and not session.stored:
        code = EXIT_INCOMPLETE
    return code


def notify(urls: tuple[str, ...], run: Run, found: Drift | None, session: RunStore) -> None:
    from cisaudit.notify import payload, send

    if not urls:
        return
    body = payload(
        run, found.to_dict() if found else None, stored=session.stored, store_note=session.problem
    )
    for url in urls:
        sent = send(url, body)
        style = "" if sent.ok else "yellow"
        what = "sent" if sent.ok else "FAILED (the run is not affected)"
        err.print(
            literal(f"Notification to {sent.target} ({sent.preset}): {what}: {sent.detail}", style),
            soft_wrap=True,
        )


# -- commands -------------------------------------------------------------------------------


def _open(url: str | None) -> Store:
    from cisaudit.store import Store, StoreError

    try:
        return Store(url)
    except StoreError as exc:
        _fail(str(exc))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@click.command("history")
@click.option("--target", default=None, help="Only runs that audited this target.")
@click.option("--group", default=None, help="Only runs with this group; shows its score.")
@click.option("--scope", default=None, help="Only runs of this scope.")
@click.option("--limit", "count", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_option
def history_command(
    target: str | None,
    group: str | None,
    scope: str | None,
    count: int,
    as_json: bool,
    store_url: str | None,
) -> None:
    """Stored runs, newest first: when, scope, targets, scores, exit codes."""
    from cisaudit.store import StoreError

    store = _open(store_url)
    try:
        rows = store.runs(scope=scope, target=target, group=group, limit=count)
        if target or group:
            series = store.trend(scope=scope, group=group, target=target)
            by_run = {p["run"]: p["series"] for p in series}
            key = f"group:{group}" if group else target
            for row in rows:
                value = by_run.get(row.id, {}).get(str(key))
                row.targets = {
                    str(key): {
                        "score": value[0] if value else None,
                        "score_without_waivers": value[1] if value else None,
                    }
                }
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    table = Table(title=literal(f"{store.where}: {len(rows)} run(s)"))
    for col in ("run", "started (UTC)", "kind", "targets", "score", "w/o waivers", "exit", "scope"):
        table.add_column(
            col,
            no_wrap=col != "scope",
            justify="right" if col in ("targets", "score", "w/o waivers", "exit") else "left",
        )
    if target or group:
        table.add_column(str(target or f"group {group}"), justify="right")
    for row in rows:
        cells: list[Any] = [
            literal(row.id[:8]),
            literal(row.started_at[:16].replace("T", " ")),
            literal(row.kind + (" partial" if row.interrupted else "")),
            str(row.target_count),
            _fmt(row.score),
            _fmt(row.score_without_waivers),
            str(row.exit_code),
            literal(row.scope),
        ]
        if target or group:
            cells.append(_fmt(next(iter(row.targets.values()))["score"]))
        table.add_row(*cells)
    out.print(table)


@click.command("diff")
@click.argument("run_a", required=False)
@click.argument("run_b", required=False)
@click.option("--scope", default=None, help="Default runs: the last two of this scope.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="List every row, not the first 50.")
@store_option
def diff_command(
    run_a: str | None,
    run_b: str | None,
    scope: str | None,
    as_json: bool,
    show_all: bool,
    store_url: str | None,
) -> None:
    """What changed from RUN_A to RUN_B (ids, prefixes, last, last~1; default: the last
    two runs of the same scope): new failures, fixed, still failing, other changes,
    targets and controls added or removed. Exit 1 when there are new failures."""
    from cisaudit.history import default_pair, drift
    from cisaudit.store import StoreError

    store = _open(store_url)
    try:
        if run_a and run_b:
            a, b = store.resolve(run_a), store.resolve(run_b)
        elif run_a:
            b = store.resolve(run_a)
            from cisaudit.history import previous_run

            row = store.row(b)
            previous = previous_run(store, b, row.scope)
            if previous is None:
                _fail(f"run {b[:12]} has no earlier run of its scope {row.scope!r}")
            a = previous
        else:
            a, b = default_pair(store, scope)
        found = drift(store, a, b)
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=1))
    else:
        _print_diff(found, None if show_all else 50)
    sys.exit(EXIT_FAIL if found.new_failures else EXIT_OK)


def _print_diff(found: Drift, limit: int | None) -> None:
    a, b = found.a, found.b
    out.print(
        literal(
            f"A: {a['run'][:12]}  {a['started_at']}  {a['scope']}  "
            f"({', '.join(a['benchmarks'])}, {a['targets']} targets)"
        )
    )
    out.print(
        literal(
            f"B: {b['run'][:12]}  {b['started_at']}  {b['scope']}  "
            f"({', '.join(b['benchmarks'])}, {b['targets']} targets)"
        )
    )
    for note in found.notes:
        out.print(literal(f"note: {note}", "yellow"))
    counts = found.counts
    out.print(literal(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()), "bold"))
    sections = [
        ("New failures", found.new_failures, "red", ("target", "control", "object", "before")),
        ("Fixed", found.fixed, "green", ("target", "control", "object", "after")),
        (
            "Other changes",
            found.changed,
            "yellow",
            ("target", "control", "object", "before", "after"),
        ),
        ("Still failing", found.still_failing, "", ("target", "control", "object")),
    ]
    for title, rows, style, cols in sections:
        if not rows:
            continue
        table = Table(title=literal(f"{title} ({len(rows)})", style))
        for col in cols:
            table.add_column(col)
        for row in rows[:limit] if limit else rows:
            table.add_row(*(literal(row.get(c, "") or "—") for c in cols))
        out.print(table)
        if limit and len(rows) > limit:
            out.print(literal(f"... {len(rows) - limit} more (--all)"))
    for label, names in (
        ("Targets added", found.targets_added),
        ("Targets removed", found.targets_removed),
        ("Controls added", found.controls_added),
        ("Controls removed", found.controls_removed),
    ):
        if names:
            shown = names if not limit else names[:limit]
            out.print(literal(f"{label} ({len(names)}): {', '.join(shown)}"))


@click.command("trend")
@click.option("--group", default=None, help="This group's score over time.")
@click.option("--target", default=None, help="This target's score over time.")
@click.option("--scope", default=None, help="Only runs of this scope.")
@click.option("--since", default="90d", show_default=True, help="How far back: 90d, 12w, 6m, 1y.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_option
def trend_command(
    group: str | None,
    target: str | None,
    scope: str | None,
    since: str,
    as_json: bool,
    store_url: str | None,
) -> None:
    """Scores over time: the fleet's, and each target's and group's (or one of them)."""
    from cisaudit.history import since_iso
    from cisaudit.store import StoreError

    try:
        start = since_iso(since)
    except ValueError as exc:
        _fail(str(exc))
    store = _open(store_url)
    try:
        points = store.trend(scope=scope, group=group, target=target, since=start)
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps({"since": start, "points": points}, ensure_ascii=False, indent=1))
        return
    names = ["fleet"] + sorted({name for p in points for name in p["series"]})
    shown = points[-TREND_COLUMNS:]
    table = Table(
        title=literal(
            f"Scores since {start[:10]}: {len(points)} run(s)"
            + (
                f", the last {len(shown)} shown (--json for all)"
                if len(points) > len(shown)
                else ""
            )
        )
    )
    table.add_column("series", no_wrap=True)
    for point in shown:
        label = point["started_at"][5:16].replace("T", " ") + (" *" if point["interrupted"] else "")
        table.add_column(literal(label), justify="right")
    for name in names:
        values = [
            point["fleet"][0] if name == "fleet" else (point["series"].get(name) or [None])[0]
            for point in shown
        ]
        table.add_row(literal(name), *[_fmt(v) for v in values])
    out.print(table)


@click.command("prune")
@click.option("--keep", required=True, metavar="AGE", help="Keep runs younger than this: 90d, 1y.")
@click.option("--dry-run", is_flag=True, help="Only say how many runs would go.")
@store_option
def prune_command(keep: str, dry_run: bool, store_url: str | None) -> None:
    """Delete stored runs older than --keep, and the evidence no other run shares."""
    from cisaudit.history import since_iso
    from cisaudit.store import StoreError

    try:
        cutoff = since_iso(keep)
    except ValueError as exc:
        _fail(str(exc))
    store = _open(store_url)
    try:
        gone, blobs = store.prune(cutoff, dry_run=dry_run)
    except StoreError as exc:
        _fail(str(exc))
    verb = "would delete" if dry_run else "deleted"
    err.print(
        literal(
            f"{verb} {gone} run(s) started before {cutoff}"
            + ("" if dry_run else f" and {blobs} unshared blob(s)")
        )
    )


def load_stored(store_url: str | None, ref: str) -> tuple[Run, dict[str, Any], list[Any], Store]:
    """A stored run, its evidence meta and targets, and the store (for ``report --run``)."""
    from cisaudit.store import StoreError

    store = _open(store_url)
    try:
        run_id = store.resolve(ref)
        run = store.load(run_id)
        meta, evidence = store.evidence(run_id)
    except StoreError as exc:
        _fail(str(exc))
    return run, meta, evidence, store


@click.command("dashboard")
@click.option(
    "-o",
    "--output",
    "outdir",
    default="cisaudit-dashboard",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the static site.",
)
@click.option("--scope", default=None, help="Only runs of this scope.")
@click.option(
    "--runs",
    "count",
    default=30,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many of the newest runs it holds.",
)
@store_option
def dashboard_command(outdir: str, scope: str | None, count: int, store_url: str | None) -> None:
    """Write a static dashboard of the store: open OUTDIR/index.html from file://, no
    server needed."""
    from pathlib import Path

    from cisaudit.dashboard import build
    from cisaudit.store import StoreError

    store = _open(store_url)
    try:
        figures = build(store, Path(outdir), scope=scope, runs=count)
    except StoreError as exc:
        _fail(str(exc))
    err.print(literal(f"Wrote {Path(outdir) / 'index.html'} ({figures['runs']} run(s))"))


COMMANDS = [history_command, diff_command, trend_command, prune_command, dashboard_command]


def stored_run_for_report(
    store_url: str | None, ref: str, outdir: Any
) -> tuple[Run, Any, dict[str, Any] | None]:
    """For ``report --run``: the stored run, its evidence rebuilt from the store into
    OUTDIR/evidence.json (every output hash-checked), and its history view."""
    import hashlib
    from pathlib import Path

    from cisaudit import __version__
    from cisaudit.evidence import write_bundle
    from cisaudit.history import history_view
    from cisaudit.store import StoreError

    run, meta, evidence, store = load_stored(store_url, ref)
    path = None
    if evidence:
        Path(outdir).mkdir(parents=True, exist_ok=True)
        path = Path(outdir) / "evidence.json"
        header = {
            "run_id": meta.get("run_id") or run.run_id,
            "tool": meta.get("tool") or {"name": "cisaudit", "version": __version__},
            "scope": meta.get("scope"),
        }
        write_bundle(path, evidence, header)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        bound = run.evidence or {}
        if bound.get("sha256") != digest:
            # Evidence first written compressed (or by evaluate) has other bytes once
            # rebuilt: the report binds to the rebuilt file and says where it came from.
            run.evidence = {
                "file": path.name,
                "sha256": digest,
                "run_id": header["run_id"],
                "modified": list(bound.get("modified") or []),
                "rebuilt_from_store": True,
                "original": {"file": bound.get("file"), "sha256": bound.get("sha256")},
            }
    try:
        view = history_view(store, run, store.row(run.run_id).scope)
    except StoreError:
        view = None
    return run, path, view


def history_for_results(run: Run) -> dict[str, Any] | None:
    """For ``report RESULTS``: the history view when the run is in the default store
    (nothing, silently, when it is not or the store cannot be opened)."""
    from cisaudit.history import history_view
    from cisaudit.store import Store, StoreError

    try:
        store = Store()
        row = store.row(run.run_id)
        return history_view(store, run, row.scope)
    except StoreError:
        return None
