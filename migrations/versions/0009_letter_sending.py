"""sending letters: attachments and at-most-once delivery in the outbox, addressee status

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachment_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('attachment', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('at_most_once', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('sending_since', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('addressees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_addressees_outbox_id_outbox'), 'outbox', ['outbox_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('addressees', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_addressees_outbox_id_outbox'), type_='foreignkey')
        batch_op.drop_column('outbox_id')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('sending_since')
        batch_op.drop_column('at_most_once')
        batch_op.drop_column('attachment')
        batch_op.drop_column('attachment_name')
