"""Scores per group, for trends per group; filled in for the runs already stored."""

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("ix_target_runs_target", "target_runs", ["target"])
    group_scores = op.create_table(
        "group_scores",
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("group", sa.String(255), primary_key=True),
        sa.Column("score", sa.Float),
        sa.Column("score_without_waivers", sa.Float),
        sa.Column("counts", sa.JSON, nullable=False),
    )
    op.create_index("ix_group_scores_group", "group_scores", ["group"])
    # Runs stored before this revision: their inventory groups' scores, from the counts
    # of their targets (the Kubernetes namespace groups need the results: not backfilled).
    rows = (
        op.get_bind().execute(sa.text("SELECT run_id, groups, counts FROM target_runs")).fetchall()
    )
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for run_id, groups, counts in rows:
        groups = json.loads(groups) if isinstance(groups, str) else groups
        counts = json.loads(counts) if isinstance(counts, str) else counts
        for group in groups or []:
            for status, n in (counts or {}).items():
                totals[(run_id, group)][status] += n
    op.bulk_insert(
        group_scores,
        [
            {
                "run_id": run_id,
                "group": group,
                "score": _score(counts),
                "score_without_waivers": None,
                "counts": dict(counts),
            }
            for (run_id, group), counts in totals.items()
        ],
    )


def _score(counts: dict[str, int]) -> float | None:
    decided = counts.get("PASS", 0) + counts.get("FAIL", 0)
    return round(100.0 * counts.get("PASS", 0) / decided, 1) if decided else None
