"""sealed names: readers' public keys, campaigns' data keys and their grants, sealed signers' fields

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reader_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organiser_id"],
            ["organisers.id"],
            name=op.f("fk_reader_keys_organiser_id_organisers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_reader_keys_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_reader_keys_public_key")),
    )
    op.create_index(
        op.f("ix_reader_keys_organiser_id"), "reader_keys", ["organiser_id"], unique=False
    )
    op.create_index(
        op.f("ix_reader_keys_campaign_id"), "reader_keys", ["campaign_id"], unique=False
    )
    op.create_table(
        "campaign_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_keys_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_keys")),
    )
    op.create_index(
        op.f("ix_campaign_keys_campaign_id"), "campaign_keys", ["campaign_id"], unique=False
    )
    op.create_table(
        "key_grants",
        sa.Column("campaign_key_id", sa.Integer(), nullable=False),
        sa.Column("reader_key_id", sa.Integer(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_key_id"],
            ["campaign_keys.id"],
            name=op.f("fk_key_grants_campaign_key_id_campaign_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reader_key_id"],
            ["reader_keys.id"],
            name=op.f("fk_key_grants_reader_key_id_reader_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_key_id", "reader_key_id", name=op.f("pk_key_grants")),
    )
    op.create_index(
        op.f("ix_key_grants_reader_key_id"), "key_grants", ["reader_key_id"], unique=False
    )
    op.create_table(
        "export_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_export_requests_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["organisers.id"],
            name=op.f("fk_export_requests_requested_by_organisers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["organisers.id"],
            name=op.f("fk_export_requests_decided_by_organisers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_requests")),
    )
    op.create_index(
        op.f("ix_export_requests_campaign_id"), "export_requests", ["campaign_id"], unique=False
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal_key_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seal_public_key", sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_key_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_signatures_sealed_key_id_campaign_keys"),
            "campaign_keys",
            ["sealed_key_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    # Sealed fields cannot be put back in clear without a reader's key: a downgrade loses them.
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_signatures_sealed_key_id_campaign_keys"), type_="foreignkey"
        )
        batch_op.drop_column("sealed_key_id")
        batch_op.drop_column("sealed")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("seal_public_key")
        batch_op.drop_column("seal_key_id")
    op.drop_index(op.f("ix_export_requests_campaign_id"), table_name="export_requests")
    op.drop_table("export_requests")
    op.drop_index(op.f("ix_key_grants_reader_key_id"), table_name="key_grants")
    op.drop_table("key_grants")
    op.drop_index(op.f("ix_campaign_keys_campaign_id"), table_name="campaign_keys")
    op.drop_table("campaign_keys")
    op.drop_index(op.f("ix_reader_keys_campaign_id"), table_name="reader_keys")
    op.drop_index(op.f("ix_reader_keys_organiser_id"), table_name="reader_keys")
    op.drop_table("reader_keys")
