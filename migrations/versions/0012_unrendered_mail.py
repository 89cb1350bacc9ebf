"""unrendered mail: the outbox keeps a template's language and values until the sender renders it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('context', sa.Text(), nullable=True))


def downgrade() -> None:
    # The old code cannot render a mail: those not yet rendered are refused, and erased.
    op.execute(
        "UPDATE outbox SET status = 'failed', last_error = 'not rendered before a downgrade',"
        " to_address = NULL, context = NULL WHERE status = 'pending' AND context IS NOT NULL"
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('context')
        batch_op.drop_column('locale')
