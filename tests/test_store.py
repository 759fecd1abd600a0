"""The store, on SQLite and on a real PostgreSQL server: runs read back exactly,
evidence is deduplicated and hash-checked, concurrent writers both land, old schemas
are migrated in place, newer, corrupt or foreign databases are refused with the file
named, the scope lock holds, and pruning keeps what other runs share."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from cisaudit import api
from cisaudit.store import Store, StoreError, StoreLocked

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "bundles" / "lab-docker.json"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def _outcome():  # type: ignore[no-untyped-def]
    return api.evaluate_bundle(BUNDLE)


def test_a_run_reads_back_exactly_with_its_evidence(store_url: str) -> None:
    store = Store(store_url)
    outcome = _outcome()
    saved = store.save(outcome.run, outcome.evidence, scope="lab")
    assert saved.blobs_written > 0 and saved.bytes_written > 0
    again = store.load(outcome.run.run_id)
    assert again.to_dict() == outcome.run.to_dict()
    _meta, evidence = store.evidence(outcome.run.run_id)
    assert [e.to_dict() for e in evidence] == [e.to_dict() for e in outcome.evidence]


def test_unchanged_hosts_add_no_blobs(store_url: str) -> None:
    store = Store(store_url)
    first, second = _outcome(), _outcome()
    store.save(first.run, first.evidence, scope="lab")
    before = store.size()
    saved = store.save(second.run, second.evidence, scope="lab")
    after = store.size()
    assert saved.blobs_written == 0 and after["blob_bytes"] == before["blob_bytes"]
    assert after["runs"] == 2 and after["targets"] == 14
    assert saved.bytes_logical > 100_000  # what the run would take without deduplication


def test_concurrent_writers_both_land(store_url: str, tmp_path: Path) -> None:
    # Two real `cisaudit evaluate` processes storing into the same store at once.
    env = {**os.environ, "CISAUDIT_STORE": store_url}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cisaudit",
                "evaluate",
                str(BUNDLE),
                "-o",
                str(tmp_path / f"o{i}"),
                "--scope",
                f"writer-{i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [1, 1], outputs
    store = Store(store_url)
    assert {r.scope for r in store.runs()} == {"writer-0", "writer-1"}
    for row in store.runs():
        assert store.load(row.id).summary["fleet"]["score"] == row.score


def test_threads_saving_the_same_blobs_do_not_collide(store_url: str) -> None:
    outcomes = [_outcome() for _ in range(4)]
    errors: list[BaseException] = []

    def save(outcome) -> None:  # type: ignore[no-untyped-def]
        try:
            Store(store_url).save(outcome.run, outcome.evidence, scope="same")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(Store(store_url).runs(scope="same")) == 4


def test_scope_lock(store_url: str) -> None:
    store, other = Store(store_url), Store(store_url)
    with store.lock("nightly"):
        with pytest.raises(StoreLocked, match="another audit of scope 'nightly'"):
            with other.lock("nightly"):
                pass
        with other.lock("another-scope"):
            pass
    with other.lock("nightly"):  # released
        pass


def test_references_and_partial_runs(store_url: str) -> None:
    store = Store(store_url)
    first, second = _outcome(), _outcome()
    second.run.interrupted = True
    second.run.started_at = "2099-01-01T00:00:00+00:00"
    store.save(first.run, first.evidence, scope="lab")
    store.save(second.run, second.evidence, scope="lab")
    assert store.resolve("last") == second.run.run_id
    assert store.resolve("last~1") == first.run.run_id
    assert store.resolve(first.run.run_id[:10]) == first.run.run_id
    with pytest.raises(StoreError, match="no run 'zzzz'"):
        store.resolve("zzzz")
    with pytest.raises(StoreError, match="no run last~5"):
        store.resolve("last~5")
    newest = store.runs(limit=1)[0]
    assert newest.interrupted and store.load(newest.id).interrupted


def test_prune_keeps_shared_evidence(store_url: str) -> None:
    store = Store(store_url)
    old, new = _outcome(), _outcome()
    old.run.started_at = "2020-01-01T00:00:00+00:00"
    store.save(old.run, old.evidence, scope="lab")
    store.save(new.run, new.evidence, scope="lab")
    gone, blobs = store.prune("2021-01-01T00:00:00+00:00")
    assert (gone, blobs) == (1, 0)  # everything the old run had, the new one shares
    assert store.load(new.run.run_id).to_dict() == new.run.to_dict()
    changed = _outcome()
    changed.evidence[0].sections["docker.info"].output += "\n"
    changed.evidence[0].sections["docker.info"].sha256 = ""
    changed.evidence[0].sections["docker.info"].__post_init__()
    changed.run.started_at = "2020-06-01T00:00:00+00:00"
    store.save(changed.run, changed.evidence, scope="lab")
    gone, blobs = store.prune("2021-01-01T00:00:00+00:00")
    assert gone == 1 and blobs >= 2  # its own section output and evidence manifest
    store.evidence(new.run.run_id)  # still whole


def test_a_modified_blob_is_refused_when_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    outcome = _outcome()
    store.save(outcome.run, outcome.evidence, scope="lab")
    import zlib

    with sqlite3.connect(tmp_path / "s.db") as db:
        sha, data = db.execute("SELECT sha256, data FROM blobs LIMIT 1").fetchone()
        db.execute(
            "UPDATE blobs SET data = ? WHERE sha256 = ?",
            (zlib.compress(zlib.decompress(data) + b" "), sha),
        )
    with pytest.raises(StoreError, match="no longer matches its SHA-256"):
        for row in store.runs():
            store.load(row.id)
            store.evidence(row.id)


def test_an_old_schema_is_migrated_in_place(tmp_path: Path) -> None:
    """A store made by the first schema, holding a run, opened by this cisaudit."""
    from alembic import command
    from alembic.config import Config

    from cisaudit.store import MIGRATIONS

    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs VALUES ('r1', 'k', 'old', 'scan', '2026-01-01T00:00:00', "
                "'2026-01-01T00:01:00', '2026-01-01T00:01:00', '0.1.0', '[]', NULL, 1, 0, 1, 50.0, "
                "NULL, '{}', 'h', '{}')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO target_runs VALUES ('r1', 'web-1', 0, 'docker-host', '[\"web\"]', "
                "'cis-docker-1.6.0', 1, NULL, NULL, NULL, NULL, 50.0, NULL, "
                "'{\"PASS\": 3, \"FAIL\": 1}', 'x', 'y', NULL)"
            )
        )
    engine.dispose()
    store = Store(f"sqlite:///{path}")
    assert store.revision() == "0002"
    points = store.trend(group="web")
    assert points[0]["series"]["group:web"][0] == 75.0
    assert store.runs()[0].scope == "old"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError, match=r"schema \(0099\) is newer than this cisaudit"):
        Store(f"sqlite:///{path}")


def test_corrupt_and_foreign_files_are_named(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="corrupt.db.*not a database"):
        Store(f"sqlite:///{corrupt}")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="foreign.db: not a cisaudit store .*invoices"):
        Store(f"sqlite:///{foreign}")
    with pytest.raises(StoreError, match="SQLite or PostgreSQL"):
        Store("mysql://x@y/z")


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="127.0.0.1"):
        Store("postgresql://postgres:secret@127.0.0.1:1/cisaudit", connect_timeout=2)


def test_password_never_in_messages() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql://audit:hunter2@127.0.0.1:1/cisaudit", connect_timeout=2)
    assert "hunter2" not in str(caught.value)


def test_bytes_per_target_with_and_without_dedup(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    base = _outcome()
    total_logical = 0
    for day in range(5):
        outcome = copy.deepcopy(base)
        outcome.run.run_id = str(uuid.uuid4())
        outcome.run.started_at = f"2026-11-0{day + 1}T00:00:00+00:00"
        total_logical += store.save(outcome.run, outcome.evidence, scope="lab").bytes_logical
    stored = store.size()["blob_bytes"]
    assert stored * 4 < total_logical
    print(
        json.dumps({"per_target_run_dedup": stored / 35, "per_target_run_raw": total_logical / 35})
    )
