"""comment import_ref: where an imported comment came from

Revision ID: e5d1c8a4b7f0
Revises: b5e2f7c18d40
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5d1c8a4b7f0'
down_revision = 'b5e2f7c18d40'
branch_labels = None
depends_on = None


def upgrade():
    # Adding a nullable column and an index needs no table rebuild on SQLite.
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_ref', sa.String(length=96), nullable=True))
        batch_op.create_index('ix_comment_import_ref', ['import_ref'], unique=True)


def downgrade():
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index('ix_comment_import_ref')
        batch_op.drop_column('import_ref')
