"""four-eyes setting: per campaign (on for every existing one), and stated by each notice version

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("four_eyes", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # Versions written until now said nothing of the setting: NULL, and the next notice of a
    # sealed campaign (written at start-up) states it.
    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("four_eyes", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.drop_column("four_eyes")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("four_eyes")
