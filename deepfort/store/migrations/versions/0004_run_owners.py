"""Workflow runs: the server instance that owns a running run, its heartbeat, how often it was resumed, and
a cancel request for its owner; every run that produced an artefact (`artefact_uses`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artefact_uses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("artefact_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["artefact_id"], ["artefacts.id"], name=op.f("fk_artefact_uses_artefact_id_artefacts")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["workflow_runs.id"], name=op.f("fk_artefact_uses_run_id_workflow_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artefact_uses")),
        sa.UniqueConstraint(
            "artefact_id", "run_id", "node_id", name=op.f("uq_artefact_uses_artefact_id_run_id_node_id")
        ),
    )
    op.create_index(op.f("ix_artefact_uses_artefact_id"), "artefact_uses", ["artefact_id"])
    op.create_index(op.f("ix_artefact_uses_run_id"), "artefact_uses", ["run_id"])
    # The runs that made artefacts before this table: each artefact's first run.
    op.execute(
        "INSERT INTO artefact_uses (artefact_id, run_id, node_id, created_at) "
        "SELECT id, run_id, COALESCE(node_id, ''), created_at FROM artefacts WHERE run_id IS NOT NULL"
    )
    # Plain ALTER TABLE ... ADD COLUMN: a batch copy of workflow_runs on SQLite would drop the table that
    # events and artefacts reference, which SQLite refuses once they hold rows.
    op.add_column("workflow_runs", sa.Column("owner", sa.String(64), nullable=True))
    op.add_column("workflow_runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("workflow_runs", sa.Column("resumes", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "workflow_runs",
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch copy of workflow_runs would
    # drop the table that the events and artefacts reference, which SQLite refuses once it holds rows.
    for column in ("cancel_requested", "resumes", "heartbeat_at", "owner"):
        op.execute(f"ALTER TABLE workflow_runs DROP COLUMN {column}")
    op.drop_index(op.f("ix_artefact_uses_run_id"), table_name="artefact_uses")
    op.drop_index(op.f("ix_artefact_uses_artefact_id"), table_name="artefact_uses")
    op.drop_table("artefact_uses")
