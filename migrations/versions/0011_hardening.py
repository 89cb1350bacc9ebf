"""hardening: daily mail allowances apart from the outbox, room for sealed two-factor secrets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:05:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    allowances = op.create_table('mail_allowances',
    sa.Column('recipient_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('day_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('recipient_hash', 'kind', name=op.f('pk_mail_allowances'))
    )
    # Today's mails keep counting toward today's caps, each kind on its own.
    outbox = sa.table('outbox', sa.column('recipient_hash', sa.String), sa.column('template', sa.String), sa.column('created_at', sa.DateTime(timezone=True)))
    kind = sa.case(
        (outbox.c.template == 'my_data', 'data_copy'),
        (outbox.c.template.in_(['password_reset', 'invitation']), 'organiser'),
        else_='signer',
    )
    recent = (
        sa.select(outbox.c.recipient_hash, kind, sa.func.min(outbox.c.created_at), sa.func.count())
        .where(outbox.c.recipient_hash.is_not(None), outbox.c.created_at > datetime.now(UTC) - timedelta(days=1))
        .group_by(outbox.c.recipient_hash, kind)
    )
    op.execute(allowances.insert().from_select(['recipient_hash', 'kind', 'day_started_at', 'sent'], recent))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient_recent')
        batch_op.drop_column('recipient_hash')

    with op.batch_alter_table('organisers', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=200), existing_nullable=True)


def downgrade() -> None:
    # Sealed two-factor secrets do not fit the old column, nor would the old code read them:
    # organisers turn two-factor authentication on again.
    op.execute("UPDATE organisers SET totp_secret = NULL, totp_last_step = NULL WHERE totp_secret LIKE 'box1:%'")
    with op.batch_alter_table('organisers', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=200), type_=sa.String(length=64), existing_nullable=True)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_recipient_recent', ['recipient_hash', 'created_at'], unique=False)

    op.drop_table('mail_allowances')
