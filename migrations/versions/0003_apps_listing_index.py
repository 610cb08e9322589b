"""apps: an index in the order app lists are read (owner, created, id)

Revision ID: 0003_apps_listing_index
Revises: 0002_routes
Create Date: 2026-11-22 06:20:00
"""
from alembic import op

revision = '0003_apps_listing_index'
down_revision = '0002_routes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_apps_owner_created', 'apps', ['owner_id', 'created', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_apps_owner_created', table_name='apps')
