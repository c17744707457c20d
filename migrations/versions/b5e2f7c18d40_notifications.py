"""notifications: deliveries (e-mail digests, webhooks) and digest cursors

Revision ID: b5e2f7c18d40
Revises: e3b8d41c7a25
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5e2f7c18d40'
down_revision = 'e3b8d41c7a25'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=80), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'failed', name='deliverystatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_created_at'), ['created_at'], unique=False)
        batch_op.create_index(
            'ix_delivery_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False
        )
    op.create_table('notify_cursor',
    sa.Column('channel', sa.String(length=80), nullable=False),
    sa.Column('last_comment_id', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('channel', name=op.f('pk_notify_cursor'))
    )


def downgrade():
    op.drop_table('notify_cursor')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_delivery_created_at'))
    op.drop_table('delivery')
