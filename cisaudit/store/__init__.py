"""The store: every run kept, with its evidence deduplicated by content.

SQLite by default (``$XDG_DATA_HOME/cisaudit/cisaudit.db``), PostgreSQL for a team
(``postgresql://user@host:5432/db``); SQLAlchemy 2 Core, Alembic migrations, psycopg 3.

What a run becomes:

* a ``runs`` row: scope, times, tool and benchmark versions, inventory hash, exit
  code, scores and counts, and the run's own small metadata (options, waiver register,
  evidence binding);
* a ``head`` blob with what the run shares with others of the same catalog (control
  descriptions, section titles, framework definitions): stored once for all runs;
* per target, a ``target_runs`` row (scores, counts, timings) and three blobs: its
  results, a digest of statuses and failing objects (what ``diff`` reads), and its
  evidence manifest, whose sections' outputs are blobs keyed by their own SHA-256 (so an
  unchanged host adds nothing but a row);
* per group (inventory groups, Kubernetes namespaces, team labels), a score row.

Blobs are zlib-compressed JSON or text, keyed by the SHA-256 of their content, and
checked against it when read. A stored run reads back as the same ``Run``: its summary
and framework verdicts are computed again from the stored results.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cisaudit.evidence import EvidenceSpool, Section, TargetEvidence
from cisaudit.model import ControlInfo, Run, TargetResult
from cisaudit.rollup import rescore
from cisaudit.store.schema import blobs, group_scores, metadata, runs, target_runs
from cisaudit.waivers import status_without_waivers

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0002"
_VOLATILE = ("started_at", "duration_s", "remote_calls")  # differ run to run: in the row
_CHUNK = 500
_MIGRATING = threading.Lock()


class StoreError(Exception):
    """The store cannot be used: unreachable, corrupt, foreign, or newer than this tool."""


class StoreLocked(StoreError):
    """Another run of the same scope holds the store's lock."""


def default_url() -> str:
    """``CISAUDIT_STORE``, else SQLite under ``$XDG_DATA_HOME/cisaudit``."""
    if os.environ.get("CISAUDIT_STORE"):
        return os.environ["CISAUDIT_STORE"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'cisaudit' / 'cisaudit.db'}"


def describe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    with contextlib.suppress(Exception):
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    return url.split("@")[-1]


def scope_key(scope: str) -> str:
    return hashlib.sha256(scope.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _canonical(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class RunRow:
    """A stored run as ``history`` lists it."""

    id: str
    scope: str
    kind: str
    started_at: str
    finished_at: str
    stored_at: str
    tool_version: str
    benchmarks: list[str]
    exit_code: int
    interrupted: bool
    target_count: int
    score: float | None
    score_without_waivers: float | None
    counts: dict[str, int]
    inventory_sha256: str | None = None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class StoredRun:
    id: str
    blobs_written: int
    bytes_written: int  # compressed bytes of the blobs this run added
    bytes_logical: int  # compressed bytes it would take without deduplication


class Store:
    """One store (a database URL), migrated to this tool's schema when opened."""

    def __init__(self, url: str | None = None, *, connect_timeout: float = 10.0) -> None:
        self.url = url or default_url()
        self.where = describe_url(self.url)
        try:
            parsed = sa.engine.make_url(self.url)
        except Exception as exc:
            raise StoreError(f"not a database URL: {self.where} ({exc})") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"{self.where}: the store is SQLite or PostgreSQL")
        self.path: Path | None = None
        if self.dialect == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise StoreError("an SQLite store needs a file: sqlite:////path/cisaudit.db")
            self.path = Path(parsed.database).expanduser()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                parsed.set(database=str(self.path)),
                connect_args={"timeout": 60},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = sa.create_engine(
                parsed,
                connect_args={"connect_timeout": int(max(1, connect_timeout))},
                pool_pre_ping=True,
            )
        self._migrate()

    # -- opening --------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to this tool's revision. Stores opened at once by several
        processes (or threads: Alembic's context is process-global) migrate one at a
        time: a file lock beside an SQLite store, an advisory lock in PostgreSQL."""
        with _MIGRATING, contextlib.ExitStack() as stack:
            if self.path is not None:
                handle = stack.enter_context(
                    self.path.with_name(f"{self.path.name}.migrate.lock").open("a+")
                )
                fcntl.flock(handle, fcntl.LOCK_EX)
            self._migrate_locked()

    def _migrate_locked(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        script = ScriptDirectory.from_config(config)
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7370126574)"))
                current = MigrationContext.configure(conn).get_current_revision()
                tables = set(sa.inspect(conn).get_table_names())
                if current is None and tables - {"alembic_version"}:
                    raise StoreError(
                        f"{self.where}: not a cisaudit store (it holds other tables: "
                        f"{', '.join(sorted(tables)[:5])})"
                    )
                if current is not None:
                    try:
                        script.get_revision(current)
                    except Exception:
                        raise StoreError(
                            f"{self.where}: the store's schema ({current}) is newer than this "
                            f"cisaudit knows ({HEAD_REVISION}); upgrade cisaudit to use it"
                        ) from None
                if current != script.get_current_head():
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
        except StoreError:
            raise
        except sa.exc.DatabaseError as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from None
        except sa.exc.OperationalError as exc:  # pragma: no cover - subclass of the above
            raise StoreError(f"{self.where}: {_reason(exc)}") from None

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    # -- locking --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, scope: str) -> Iterator[None]:
        """Hold the lock of ``scope`` in this store for the duration, or raise
        :class:`StoreLocked` at once when another run holds it."""
        key = scope_key(scope)
        if self.path is not None:
            lock_path = self.path.with_name(f"{self.path.name}.{key[:16]}.lock")
            handle = lock_path.open("a+")
            try:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    since = handle.read().strip()
                    raise StoreLocked(
                        f"another audit of scope {scope!r} is running"
                        + (f" (started {since})" if since else "")
                    ) from None
                handle.seek(0)
                handle.truncate()
                handle.write(f"{_now()} pid {os.getpid()}")
                handle.flush()
                yield
            finally:
                handle.close()
            return
        number = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from None
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": number}).scalar()
            if not got:
                raise StoreLocked(f"another audit of scope {scope!r} is running")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": number})
        finally:
            conn.close()

    # -- writing --------------------------------------------------------------------------

    def save(
        self,
        run: Run,
        evidence: Sequence[TargetEvidence] | None = None,
        *,
        scope: str,
        kind: str = "scan",
        inventory_sha256: str | None = None,
        evidence_meta: dict[str, Any] | None = None,
    ) -> StoredRun:
        """Store ``run`` (and its evidence) in one transaction."""
        pending: dict[str, bytes] = {}  # content by SHA-256, compressed only if new
        uses: dict[str, int] = {}  # how often this run refers to each blob

        def blob(payload: bytes, digest: str | None = None) -> str:
            digest = digest or hashlib.sha256(payload).hexdigest()
            pending.setdefault(digest, payload)
            uses[digest] = uses.get(digest, 0) + 1
            return digest

        head = blob(_canonical(_head(run)))
        # a spool (cisaudit.api.audit) is read back one target at a time
        lookup = (
            evidence.get
            if isinstance(evidence, EvidenceSpool)
            else {e.name: e for e in evidence or []}.get
        )
        target_rows = []
        for position, target in enumerate(run.targets):
            data = target.to_dict()
            for key in _VOLATILE:
                data.pop(key, None)
            item = lookup(target.name)
            manifest_sha = None
            if item is not None:
                manifest = {
                    "name": item.name,
                    "kind": item.kind,
                    "address": item.address,
                    "groups": list(item.groups),
                    "roles": list(item.roles),
                    "error": item.error,
                    "platform_version": item.platform_version,
                    "params": item.params,
                }
                # how the kind was decided and what the host runs (results schema 1.3);
                # written when set, so that earlier manifests keep their hashes
                for key, default in (
                    ("kind_source", "inventory"),
                    ("detected", []),
                    ("also", []),
                    ("nothing", None),
                ):
                    value = getattr(item, key)
                    if value != default:
                        manifest[key] = list(value) if isinstance(value, list) else value
                manifest["sections"] = {
                    name: {"command": s.command, "rc": s.rc, "stderr": s.stderr, "sha256": s.sha256}
                    for name, s in item.sections.items()
                }
                for section in item.sections.values():
                    blob(section.output.encode("utf-8"), section.sha256)
                manifest_sha = blob(_canonical(manifest))
            block = run.summary.get("targets", {}).get(target.name, {})
            target_rows.append(
                {
                    "run_id": run.run_id,
                    "target": target.name,
                    "position": position,
                    "kind": target.kind,
                    "groups": list(target.groups),
                    "benchmark": target.benchmark,
                    "reachable": target.reachable,
                    "error": target.error,
                    "started_at": target.started_at,
                    "duration_s": target.duration_s,
                    "remote_calls": target.remote_calls,
                    "score": block.get("score"),
                    "score_without_waivers": block.get("score_without_waivers"),
                    "counts": block.get("counts", {}),
                    "results_sha256": blob(_canonical(data)),
                    "digest_sha256": blob(_canonical(digest_of(target))),
                    "evidence_sha256": manifest_sha,
                }
            )
        fleet = run.summary.get("fleet", {})
        run_row = {
            "id": run.run_id,
            "scope_key": scope_key(scope),
            "scope": scope,
            "kind": kind,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "stored_at": _now(),
            "tool_version": run.tool_version,
            "benchmarks": list(run.benchmarks),
            "inventory_sha256": inventory_sha256,
            "exit_code": int(run.summary.get("exit_code", 0)),
            "interrupted": bool(run.interrupted),
            "target_count": len(run.targets),
            "score": fleet.get("score"),
            "score_without_waivers": fleet.get("score_without_waivers"),
            "counts": fleet.get("counts", {}),
            "head_sha256": head,
            "meta": {
                "options": run.options,
                "waivers": run.waivers,
                "evidence": run.evidence,
                "evidence_meta": evidence_meta or {},
                "framework_ids": list(run.frameworks),
            },
        }
        group_rows = [
            {
                "run_id": run.run_id,
                "group": name,
                "score": block.get("score"),
                "score_without_waivers": block.get("score_without_waivers"),
                "counts": block.get("counts", {}),
            }
            for name, block in (run.summary.get("groups") or {}).items()
        ]
        try:
            with self.engine.begin() as conn:
                written, sizes = self._write_blobs(conn, pending)
                conn.execute(runs.insert(), [run_row])
                for chunk in _chunks(target_rows):
                    conn.execute(target_runs.insert(), chunk)
                for chunk in _chunks(group_rows):
                    conn.execute(group_scores.insert(), chunk)
        except sa.exc.IntegrityError as exc:
            raise StoreError(
                f"{self.where}: run {run.run_id} is stored already ({_reason(exc)})"
            ) from None
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from None
        return StoredRun(
            id=run.run_id,
            blobs_written=len(written),
            bytes_written=sum(sizes[d] for d in written),
            bytes_logical=sum(sizes[d] * n for d, n in uses.items()),
        )

    def _write_blobs(
        self, conn: Connection, pending: dict[str, bytes]
    ) -> tuple[list[str], dict[str, int]]:
        """Insert the blobs the store does not hold yet (another writer may insert the
        same ones at the same moment: those inserts are ignored, not errors). Returns the
        keys written and the compressed size of every blob of the run."""
        sizes: dict[str, int] = {}
        keys = list(pending)
        for chunk in _chunks(keys):
            for sha, size in conn.execute(
                sa.select(blobs.c.sha256, sa.func.length(blobs.c.data)).where(
                    blobs.c.sha256.in_(chunk)
                )
            ):
                sizes[sha] = int(size)
        missing = [k for k in keys if k not in sizes]
        rows = []
        for key in missing:
            data = zlib.compress(pending[key], 6)
            sizes[key] = len(data)
            rows.append({"sha256": key, "size": len(pending[key]), "data": data})
        insert: Any
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert(blobs).on_conflict_do_nothing(index_elements=["sha256"])
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            insert = pg_insert(blobs).on_conflict_do_nothing(index_elements=["sha256"])
        for chunk in _chunks(rows, 200):
            conn.execute(insert, chunk)
        return missing, sizes

    # -- reading --------------------------------------------------------------------------

    def _blobs(self, conn: Connection, keys: Iterable[str]) -> dict[str, bytes]:
        """Blobs by key, each checked against its SHA-256."""
        found: dict[str, bytes] = {}
        for chunk in _chunks(sorted(set(keys))):
            for sha, data in conn.execute(
                sa.select(blobs.c.sha256, blobs.c.data).where(blobs.c.sha256.in_(chunk))
            ):
                payload = zlib.decompress(data)
                if hashlib.sha256(payload).hexdigest() != sha:
                    raise StoreError(
                        f"{self.where}: stored data {sha[:16]}… no longer matches its SHA-256"
                    )
                found[sha] = payload
        missing = set(keys) - set(found)
        if missing:
            raise StoreError(f"{self.where}: {len(missing)} stored blob(s) are missing")
        return found

    def runs(
        self,
        *,
        scope: str | None = None,
        target: str | None = None,
        group: str | None = None,
        since: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[RunRow]:
        query = sa.select(runs)
        if scope is not None:
            query = query.where(runs.c.scope_key == scope_key(scope))
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        if target is not None:
            query = query.where(
                runs.c.id.in_(sa.select(target_runs.c.run_id).where(target_runs.c.target == target))
            )
        if group is not None:
            query = query.where(
                runs.c.id.in_(sa.select(group_scores.c.run_id).where(group_scores.c.group == group))
            )
        order = runs.c.started_at.desc() if newest_first else runs.c.started_at.asc()
        query = query.order_by(order, runs.c.stored_at.desc() if newest_first else runs.c.stored_at)
        if limit:
            query = query.limit(limit)
        with self._reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_row(r) for r in rows]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from None

    def resolve(self, ref: str, *, scope: str | None = None) -> str:
        """A run id from a reference: a full id or a unique prefix, ``last`` (the newest
        run, of ``scope`` when given), or ``last~N`` (N runs before it)."""
        if ref == "last" or ref.startswith("last~"):
            back = int(ref[5:] or 0) if ref.startswith("last~") else 0
            found = self.runs(scope=scope, limit=back + 1)
            if len(found) <= back:
                where = f" of scope {scope!r}" if scope else ""
                raise StoreError(f"no run {ref}{where} in {self.where}")
            return found[back].id
        with self._reading() as conn:
            ids = (
                conn.execute(
                    sa.select(runs.c.id)
                    .where(runs.c.id.like(f"{_like(ref)}%", escape="\\"))
                    .limit(3)
                )
                .scalars()
                .all()
            )
        if not ids:
            raise StoreError(f"no run {ref!r} in {self.where} (see `cisaudit history`)")
        if len(ids) > 1:
            raise StoreError(f"run {ref!r} is ambiguous: {', '.join(i[:12] for i in ids)} ...")
        return str(ids[0])

    def row(self, run_id: str) -> RunRow:
        with self._reading() as conn:
            found = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if found is None:
            raise StoreError(f"no run {run_id!r} in {self.where}")
        return _run_row(found)

    def load(self, run_id: str) -> Run:
        """The stored run, as it was (summary and framework verdicts recomputed)."""
        with self._reading() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.where}")
            targets = (
                conn.execute(
                    sa.select(target_runs)
                    .where(target_runs.c.run_id == run_id)
                    .order_by(target_runs.c.position)
                )
                .mappings()
                .all()
            )
            payloads = self._blobs(
                conn, [row["head_sha256"], *(t["results_sha256"] for t in targets)]
            )
        head = json.loads(payloads[row["head_sha256"]])
        meta = row["meta"] or {}
        results = []
        for t in targets:
            data = json.loads(payloads[t["results_sha256"]])
            data.update({k: t[k] for k in _VOLATILE})
            results.append(TargetResult.from_dict(data))
        run = Run(
            run_id=row["id"],
            tool_version=row["tool_version"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            benchmarks=list(row["benchmarks"]),
            options=dict(meta.get("options") or {}),
            targets=results,
            controls={k: ControlInfo(**v) for k, v in head["controls"].items()},
            sections=head["sections"],
            interrupted=bool(row["interrupted"]),
            evidence=meta.get("evidence"),
            frameworks={k: dict(v) for k, v in head["frameworks"].items()},
            waivers=meta.get("waivers"),
        )
        rescore(run)
        return run

    def evidence(self, run_id: str) -> tuple[dict[str, Any], list[TargetEvidence]]:
        """The stored evidence of a run (meta and targets), every output hash-checked."""
        with self._reading() as conn:
            row = conn.execute(sa.select(runs.c.meta).where(runs.c.id == run_id)).first()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.where}")
            targets = (
                conn.execute(
                    sa.select(target_runs)
                    .where(target_runs.c.run_id == run_id)
                    .order_by(target_runs.c.position)
                )
                .mappings()
                .all()
            )
            manifests = self._blobs(
                conn, [t["evidence_sha256"] for t in targets if t["evidence_sha256"]]
            )
            parsed = {k: json.loads(v) for k, v in manifests.items()}
            outputs = self._blobs(
                conn,
                [s["sha256"] for m in parsed.values() for s in m["sections"].values()],
            )
        items = []
        for t in targets:
            if not t["evidence_sha256"]:
                continue
            manifest = dict(parsed[t["evidence_sha256"]])
            sections = {
                name: Section(
                    command=s["command"],
                    rc=s["rc"],
                    output=outputs[s["sha256"]].decode("utf-8"),
                    stderr=s["stderr"],
                    sha256=s["sha256"],
                )
                for name, s in manifest.pop("sections").items()
            }
            manifest.update(
                collected_at=t["started_at"],
                duration_s=t["duration_s"],
                remote_calls=t["remote_calls"] or 0,
            )
            items.append(TargetEvidence(**manifest, sections=sections))
        return dict((row[0] or {}).get("evidence_meta") or {}), items

    def digests(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per target: the statuses and failing objects of each control (for diff)."""
        with self._reading() as conn:
            targets = conn.execute(
                sa.select(
                    target_runs.c.target,
                    target_runs.c.digest_sha256,
                    target_runs.c.reachable,
                    target_runs.c.error,
                )
                .where(target_runs.c.run_id == run_id)
                .order_by(target_runs.c.position)
            ).all()
            payloads = self._blobs(conn, [t[1] for t in targets])
        return {
            t[0]: {"reachable": t[2], "error": t[3], "controls": json.loads(payloads[t[1]])}
            for t in targets
        }

    def controls(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's control descriptions (from its head)."""
        with self._reading() as conn:
            head = conn.execute(sa.select(runs.c.head_sha256).where(runs.c.id == run_id)).scalar()
            if head is None:
                raise StoreError(f"no run {run_id!r} in {self.where}")
            payload = self._blobs(conn, [head])[head]
        controls: dict[str, dict[str, Any]] = json.loads(payload)["controls"]
        return controls

    def trend(
        self,
        *,
        scope: str | None = None,
        group: str | None = None,
        target: str | None = None,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        """Scores over time, oldest first: the fleet's, and each target's or group's."""
        query = sa.select(
            runs.c.id,
            runs.c.started_at,
            runs.c.score,
            runs.c.score_without_waivers,
            runs.c.scope,
            runs.c.interrupted,
        )
        if scope is not None:
            query = query.where(runs.c.scope_key == scope_key(scope))
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        with self._reading() as conn:
            run_rows = conn.execute(query.order_by(runs.c.started_at)).all()
            ids = [r[0] for r in run_rows]
            per: dict[str, dict[str, Any]] = {i: {} for i in ids}
            if group is not None or target is None:
                q = sa.select(
                    group_scores.c.run_id,
                    group_scores.c.group,
                    group_scores.c.score,
                    group_scores.c.score_without_waivers,
                )
                if group is not None:
                    q = q.where(group_scores.c.group == group)
                for chunk in _chunks(ids):
                    for run_id, name, score, unwaived in conn.execute(
                        q.where(group_scores.c.run_id.in_(chunk))
                    ):
                        per[run_id][f"group:{name}"] = [score, unwaived]
            if group is None:
                q = sa.select(
                    target_runs.c.run_id,
                    target_runs.c.target,
                    target_runs.c.score,
                    target_runs.c.score_without_waivers,
                )
                if target is not None:
                    q = q.where(target_runs.c.target == target)
                for chunk in _chunks(ids):
                    for run_id, name, score, unwaived in conn.execute(
                        q.where(target_runs.c.run_id.in_(chunk))
                    ):
                        per[run_id][name] = [score, unwaived]
        return [
            {
                "run": run_id,
                "started_at": started,
                "scope": scope_name,
                "interrupted": bool(interrupted),
                "fleet": [score, unwaived],
                "series": per[run_id],
            }
            for run_id, started, score, unwaived, scope_name, interrupted in run_rows
        ]

    def prune(self, older_than: str, *, dry_run: bool = False) -> tuple[int, int]:
        """Delete runs started before ``older_than`` (ISO time) and the blobs no run
        uses any more; return (runs, blobs) deleted."""
        with self.engine.begin() as conn:
            old = (
                conn.execute(sa.select(runs.c.id).where(runs.c.started_at < older_than))
                .scalars()
                .all()
            )
            if dry_run or not old:
                return len(old), 0
            for chunk in _chunks(old):
                conn.execute(group_scores.delete().where(group_scores.c.run_id.in_(chunk)))
                conn.execute(target_runs.delete().where(target_runs.c.run_id.in_(chunk)))
                conn.execute(runs.delete().where(runs.c.id.in_(chunk)))
            used: set[str] = set(conn.execute(sa.select(runs.c.head_sha256)).scalars())
            for row in conn.execute(
                sa.select(
                    target_runs.c.results_sha256,
                    target_runs.c.digest_sha256,
                    target_runs.c.evidence_sha256,
                )
            ):
                used.update(x for x in row if x)
            manifests = [k for k in used]
            for chunk in _chunks(manifests):
                for _sha, data in conn.execute(
                    sa.select(blobs.c.sha256, blobs.c.data).where(blobs.c.sha256.in_(chunk))
                ):
                    with contextlib.suppress(ValueError, zlib.error):
                        doc = json.loads(zlib.decompress(data))
                        if isinstance(doc, dict) and isinstance(doc.get("sections"), dict):
                            used.update(s.get("sha256", "") for s in doc["sections"].values())
            unused = [k for k in conn.execute(sa.select(blobs.c.sha256)).scalars() if k not in used]
            for chunk in _chunks(unused):
                conn.execute(blobs.delete().where(blobs.c.sha256.in_(chunk)))
        return len(old), len(unused)

    def size(self) -> dict[str, int]:
        """Rows and bytes held, for figures."""
        with self._reading() as conn:
            return {
                "runs": conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() or 0,
                "targets": conn.execute(
                    sa.select(sa.func.count()).select_from(target_runs)
                ).scalar()
                or 0,
                "blobs": conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar() or 0,
                "blob_bytes": conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(blobs.c.data)), 0))
                ).scalar()
                or 0,
            }


# -- helpers ------------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _head(run: Run) -> dict[str, Any]:
    """What a run shares with every run of the same catalog: stored once."""
    from dataclasses import asdict

    return {
        "controls": {k: asdict(v) for k, v in run.controls.items()},
        "sections": run.sections,
        "frameworks": {
            fid: {k: v for k, v in fw.items() if k not in ("verdicts", "summary")}
            for fid, fw in run.frameworks.items()
        },
    }


def object_key(kind: str, name: str) -> str:
    """An object's identity across runs: a container by its name, an image by its
    repository and tag, a Kubernetes object by namespace/kind/name, a file by its path.
    A container re-created under the same name is the same object."""
    return f"{kind}:{name}"


def digest_of(target: TargetResult) -> dict[str, list[Any]]:
    """``pack/control -> [status, status without waivers, failing objects]``."""
    found: dict[str, list[Any]] = {}
    for result in target.results:
        objects = sorted({object_key(o.kind, o.name) for o in result.offenders})
        waived = [
            object_key(e["offender"]["kind"], e["offender"]["name"])
            for e in ((result.waiver or {}).get("waived_offenders") or [])
        ]
        found[target.control_key(result)] = [
            result.status.value,
            status_without_waivers(result).value,
            objects,
            sorted(set(waived)),
        ]
    return found


def _run_row(row: Any) -> RunRow:
    return RunRow(
        id=row["id"],
        scope=row["scope"],
        kind=row["kind"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        stored_at=row["stored_at"],
        tool_version=row["tool_version"],
        benchmarks=list(row["benchmarks"] or []),
        exit_code=row["exit_code"],
        interrupted=bool(row["interrupted"]),
        target_count=row["target_count"],
        score=row["score"],
        score_without_waivers=row["score_without_waivers"],
        counts=dict(row["counts"] or {}),
        inventory_sha256=row["inventory_sha256"],
    )


__all__ = [
    "HEAD_REVISION",
    "RunRow",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoredRun",
    "default_url",
    "digest_of",
    "metadata",
    "object_key",
    "scope_key",
]
