"""action kit: a letter signers may send themselves

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kit_title', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('kit_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('kit_subject', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('kit_body', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('kit_body')
        batch_op.drop_column('kit_subject')
        batch_op.drop_column('kit_email')
        batch_op.drop_column('kit_title')
