"""spam waves: one row per wave, one per comment that joined it

Revision ID: e4b8a1c7d2f6
Revises: e5d1c8a4b7f0
Create Date: 2026-12-02 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b8a1c7d2f6'
down_revision = 'e5d1c8a4b7f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spam_wave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'confirmed', 'released', name='wavestatus', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('skeleton', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['moderator.id'], name=op.f('fk_spam_wave_decided_by_id_moderator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spam_wave'))
    )
    with op.batch_alter_table('spam_wave', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spam_wave_created_at'), ['created_at'], unique=False)

    op.create_table('spam_wave_member',
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_spam_wave_member_comment_id_comment')),
    sa.ForeignKeyConstraint(['wave_id'], ['spam_wave.id'], name=op.f('fk_spam_wave_member_wave_id_spam_wave')),
    sa.PrimaryKeyConstraint('comment_id', name=op.f('pk_spam_wave_member'))
    )
    with op.batch_alter_table('spam_wave_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spam_wave_member_wave_id'), ['wave_id'], unique=False)


def downgrade():
    with op.batch_alter_table('spam_wave_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spam_wave_member_wave_id'))
    op.drop_table('spam_wave_member')
    with op.batch_alter_table('spam_wave', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spam_wave_created_at'))
    op.drop_table('spam_wave')
