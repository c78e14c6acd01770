"""create table orders

Revision ID: 0001
Revises:
Create Date: 2024-05-01 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
    )
    op.execute("INSERT INTO orders (customer, total_cents) VALUES ('alice', 1250), ('bob', 990)")


def downgrade() -> None:
    op.drop_table("orders")
