"""publication choices: name and role, name, role and organisation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = sa.Enum('none', 'name', name='publication', native_enum=False, create_constraint=True, length=16)
NEW = sa.Enum('none', 'name', 'name_role', 'name_role_org', name='publication', native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.alter_column('publication', existing_type=OLD, type_=NEW, existing_nullable=False)


def downgrade() -> None:
    # Richer choices fall back to publishing the name only, the one choice the old schema knows.
    op.execute("UPDATE signatures SET publication = 'name' WHERE publication IN ('name_role', 'name_role_org')")
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.alter_column('publication', existing_type=NEW, type_=OLD, existing_nullable=False)
