"""Alembic environment: runs migrations on the URL given by ``service.storage.migrate``."""

from alembic import context

from service.storage.database import get_engine
from service.storage.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")

with get_engine(url).connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
