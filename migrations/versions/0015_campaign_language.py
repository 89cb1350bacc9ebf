"""campaign language: the language a campaign's title and text are written in

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every campaign until now was written for the French-first interface.
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="fr")
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("language")
