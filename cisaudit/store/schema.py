"""The store's tables (SQLAlchemy Core). Changes go through an Alembic migration in
``migrations/versions``; this module always describes the newest schema."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Content-addressed, compressed payloads: a target's results, its evidence manifest, each
# evidence section's output, a run's catalog head. Equal content is stored once.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),  # bytes before compression
    sa.Column("data", sa.LargeBinary, nullable=False),  # zlib-compressed
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope_key", sa.String(64), nullable=False, index=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # scan | evaluate
    sa.Column("started_at", sa.String(40), nullable=False, index=True),
    sa.Column("finished_at", sa.String(40), nullable=False),
    sa.Column("stored_at", sa.String(40), nullable=False),
    sa.Column("tool_version", sa.String(40), nullable=False),
    sa.Column("benchmarks", sa.JSON, nullable=False),
    sa.Column("inventory_sha256", sa.String(64)),
    sa.Column("exit_code", sa.Integer, nullable=False),
    sa.Column("interrupted", sa.Boolean, nullable=False),
    sa.Column("target_count", sa.Integer, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("score_without_waivers", sa.Float),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("head_sha256", sa.String(64), nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
)

target_runs = sa.Table(
    "target_runs",
    metadata,
    sa.Column(
        "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("target", sa.String(255), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("benchmark", sa.String(64), nullable=False),
    sa.Column("reachable", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.String(40)),
    sa.Column("duration_s", sa.Float),
    sa.Column("remote_calls", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("score_without_waivers", sa.Float),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("results_sha256", sa.String(64), nullable=False),  # the TargetResult
    sa.Column("digest_sha256", sa.String(64), nullable=False),  # statuses and objects, for diff
    sa.Column("evidence_sha256", sa.String(64)),  # the evidence manifest
    sa.Index("ix_target_runs_target", "target"),
)

# Added by migration 0002: scores per group (inventory groups, Kubernetes namespaces and
# team labels) so that trends per group need no results.
group_scores = sa.Table(
    "group_scores",
    metadata,
    sa.Column(
        "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("group", sa.String(255), primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("score_without_waivers", sa.Float),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Index("ix_group_scores_group", "group"),
)
