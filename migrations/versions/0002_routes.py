"""routes: the embedded route registry

Revision ID: 0002_routes
Revises: 0001
Create Date: 2026-11-22 05:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_routes'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routes',
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('process', sa.String(length=160), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('app', 'process')
    )


def downgrade() -> None:
    op.drop_table('routes')
