"""reach: updates to signers who asked, the official petition, milestones, texts in more
languages, paper signatures, the earlier hash of an address on manage links

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_texts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("kit_subject", sa.String(length=300), nullable=True),
        sa.Column("kit_body", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_texts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "language", name=op.f("pk_campaign_texts")),
    )
    op.create_table(
        "campaign_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_through", sa.Integer(), server_default="0", nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="update", nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_updates_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["organisers.id"],
            name=op.f("fk_campaign_updates_created_by_organisers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_updates")),
    )
    with op.batch_alter_table("campaign_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_updates_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_milestones_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
        sa.UniqueConstraint("campaign_id", "threshold", name="uq_milestones_threshold"),
    )
    op.create_table(
        "paper_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("gathered_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sheets", sa.Integer(), nullable=True),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_paper_batches_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["organisers.id"],
            name=op.f("fk_paper_batches_created_by_organisers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_batches")),
    )
    with op.batch_alter_table("paper_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_batches_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "update_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["campaign_updates.id"],
            name=op.f("fk_update_batches_update_id_campaign_updates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_update_batches")),
    )
    with op.batch_alter_table("update_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_update_batches_update_id"), ["update_id"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("sealed_address", sa.LargeBinary(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_subscriptions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signatures.id"],
            name=op.f("fk_subscriptions_signature_id_signatures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("signature_id", name=op.f("uq_subscriptions_signature_id")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_campaign_id"), ["campaign_id"], unique=False
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paper_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("official_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("official_platform", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("official_threshold", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("official_deadline", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("official_count", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("official_count_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("official_count_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("official_feed_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("official_feed_field", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("official_feed_error", sa.String(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("official_feed_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("official_reminder_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("official_reminded_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_address", sa.LargeBinary(), nullable=True))

    with op.batch_alter_table("manage_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_email_hash", sa.String(length=64), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_batch_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("unsubscribe_url", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbox_update_batch_id"), ["update_batch_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_update_batch_id_update_batches"),
            "update_batches",
            ["update_batch_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paper_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_signatures_paper_batch_id"), ["paper_batch_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_signatures_paper_batch_id_paper_batches"),
            "paper_batches",
            ["paper_batch_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_signatures_paper_batch_id_paper_batches"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_signatures_paper_batch_id"))
        batch_op.drop_column("paper_batch_id")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_update_batch_id_update_batches"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_update_batch_id"))
        batch_op.drop_column("unsubscribe_url")
        batch_op.drop_column("update_batch_id")

    with op.batch_alter_table("manage_tokens", schema=None) as batch_op:
        batch_op.drop_column("legacy_email_hash")

    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.drop_column("notify_address")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("official_reminded_at")
        batch_op.drop_column("official_reminder_days")
        batch_op.drop_column("official_feed_checked_at")
        batch_op.drop_column("official_feed_error")
        batch_op.drop_column("official_feed_field")
        batch_op.drop_column("official_feed_url")
        batch_op.drop_column("official_count_source")
        batch_op.drop_column("official_count_at")
        batch_op.drop_column("official_count")
        batch_op.drop_column("official_deadline")
        batch_op.drop_column("official_threshold")
        batch_op.drop_column("official_platform")
        batch_op.drop_column("official_url")
        batch_op.drop_column("paper_count")

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_campaign_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("update_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_update_batches_update_id"))

    op.drop_table("update_batches")
    with op.batch_alter_table("paper_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_batches_campaign_id"))

    op.drop_table("paper_batches")
    op.drop_table("milestones")
    with op.batch_alter_table("campaign_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_updates_campaign_id"))

    op.drop_table("campaign_updates")
    op.drop_table("campaign_texts")
