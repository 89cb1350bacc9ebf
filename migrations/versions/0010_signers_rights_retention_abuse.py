"""signers' rights, retention and abuse: privacy notices, manage links, quarantine, signals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 15:34:12.837218
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUS = sa.Enum('pending', 'confirmed', 'withdrawn', 'invalidated', name='signature_status', native_enum=False, create_constraint=True, length=16)
NEW_STATUS = sa.Enum('pending', 'confirmed', 'withdrawn', 'invalidated', 'quarantined', name='signature_status', native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table('manage_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manage_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_manage_tokens_token_hash'))
    )
    with op.batch_alter_table('manage_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manage_tokens_email_hash'), ['email_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_manage_tokens_expires_at'), ['expires_at'], unique=False)

    op.create_table('spent_challenges',
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('challenge_hash', name=op.f('pk_spent_challenges'))
    )
    with op.batch_alter_table('spent_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_challenges_expires_at'), ['expires_at'], unique=False)

    op.create_table('abuse_signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_abuse_signals_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_signals'))
    )
    with op.batch_alter_table('abuse_signals', schema=None) as batch_op:
        batch_op.create_index('ix_abuse_signals_campaign_time', ['campaign_id', 'created_at'], unique=False)

    op.create_table('campaign_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_tallies_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_tallies'))
    )
    with op.batch_alter_table('campaign_tallies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_tallies_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('privacy_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text_revision', sa.String(length=32), nullable=False),
    sa.Column('controller', sa.String(length=300), nullable=False),
    sa.Column('contact', sa.String(length=300), nullable=False),
    sa.Column('unconfirmed_days', sa.Integer(), nullable=False),
    sa.Column('anonymise_after_days', sa.Integer(), nullable=False),
    sa.Column('signals_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_privacy_notices_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_notices')),
    sa.UniqueConstraint('campaign_id', 'version', name='uq_privacy_notices_version')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('controller', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('privacy_contact', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quarantine_rule', sa.String(length=32), nullable=True))
        batch_op.alter_column('status', existing_type=OLD_STATUS, type_=NEW_STATUS, existing_nullable=False)



def downgrade() -> None:
    # Held signatures go back to what the old schema knows: confirmed but invalidated, uncounted.
    op.execute("UPDATE signatures SET status = 'invalidated', invalidation_reason = 'quarantine' WHERE status = 'quarantined'")
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=NEW_STATUS, type_=OLD_STATUS, existing_nullable=False)
        batch_op.drop_column('quarantine_rule')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('privacy_contact')
        batch_op.drop_column('controller')

    op.drop_table('privacy_notices')
    with op.batch_alter_table('campaign_tallies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_tallies_campaign_id'))

    op.drop_table('campaign_tallies')
    with op.batch_alter_table('abuse_signals', schema=None) as batch_op:
        batch_op.drop_index('ix_abuse_signals_campaign_time')

    op.drop_table('abuse_signals')
    with op.batch_alter_table('spent_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_challenges_expires_at'))

    op.drop_table('spent_challenges')
    with op.batch_alter_table('manage_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manage_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_manage_tokens_email_hash'))

    op.drop_table('manage_tokens')
