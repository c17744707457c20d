"""moderator sessions: one row per signed-in browser

Revision ID: 5e0c1a7d9b42
Revises: b3e1f0c2d4a5
Create Date: 2026-12-02 10:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e0c1a7d9b42'
down_revision = 'b3e1f0c2d4a5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('moderator_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('moderator_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('remote_addr', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['moderator_id'], ['moderator.id'], name=op.f('fk_moderator_session_moderator_id_moderator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderator_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_moderator_session_token_hash'))
    )
    with op.batch_alter_table('moderator_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderator_session_moderator_id'), ['moderator_id'], unique=False)
    # Cookies from before this revision name no session and stop working:
    # every moderator signs in once more.


def downgrade():
    with op.batch_alter_table('moderator_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderator_session_moderator_id'))

    op.drop_table('moderator_session')
