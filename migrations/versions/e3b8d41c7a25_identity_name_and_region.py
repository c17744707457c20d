"""portal identity's display name and IP region of a comment

Revision ID: e3b8d41c7a25
Revises: 5e0c1a7d9b42
Create Date: 2026-12-02 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3b8d41c7a25'
down_revision = '5e0c1a7d9b42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_identity_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('region', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_column('region')
        batch_op.drop_column('author_identity_name')
