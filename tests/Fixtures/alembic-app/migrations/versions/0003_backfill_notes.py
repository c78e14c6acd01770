"""backfill notes

Revision ID: 0003
Revises: 0002
Create Date: 2024-05-03 10:00:00

"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A data backfill: the notes it overwrites are not kept anywhere, so it cannot be undone.
    op.execute("UPDATE orders SET note = 'legacy order' WHERE note IS NULL")


def downgrade() -> None:
    pass
