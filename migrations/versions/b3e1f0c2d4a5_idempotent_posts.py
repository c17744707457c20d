"""spent captchas remember whether they were solved and the comment they made

Revision ID: b3e1f0c2d4a5
Revises: a7c4e2d9b1f3
Create Date: 2026-12-02 04:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e1f0c2d4a5'
down_revision = 'a7c4e2d9b1f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('spent_captcha', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('solved', sa.Boolean(), server_default='0', nullable=False)
        )
        batch_op.add_column(sa.Column('comment_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('spent_captcha', schema=None) as batch_op:
        batch_op.drop_column('comment_id')
        batch_op.drop_column('solved')
