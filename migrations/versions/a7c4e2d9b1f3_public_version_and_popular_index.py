"""article public_version; indexes for the most-liked order and thread replies

Revision ID: a7c4e2d9b1f3
Revises: f15bc16fdaa5
Create Date: 2026-12-02 04:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c4e2d9b1f3'
down_revision = 'f15bc16fdaa5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('public_version', sa.Integer(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index(
            'ix_comment_article_status_likes',
            ['article_id', 'status', 'likes', 'created_at'],
            unique=False,
        )
        batch_op.create_index(
            'ix_comment_root_status_created', ['root_id', 'status', 'created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index('ix_comment_root_status_created')
        batch_op.drop_index('ix_comment_article_status_likes')
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_column('public_version')
