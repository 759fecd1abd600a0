"""Runs, the targets of each run, and content-addressed blobs."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scope_key", sa.String(64), nullable=False, index=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
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
    op.create_table(
        "target_runs",
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
        sa.Column("results_sha256", sa.String(64), nullable=False),
        sa.Column("digest_sha256", sa.String(64), nullable=False),
        sa.Column("evidence_sha256", sa.String(64)),
    )
