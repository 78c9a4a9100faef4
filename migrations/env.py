"""Alembic environment: one history for every store, on SQLite and PostgreSQL.

The runner (adapters/sql/migrate.py) hands over an open connection and the store
name; revisions read `store` to create tables that only one store owns.
"""

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes.get("schema")

context.configure(
    connection=connection,
    target_metadata=None,
    version_table_schema=schema,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
