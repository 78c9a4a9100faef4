"""One Alembic history for every store (SQLite and PostgreSQL).

`HEAD` is the newest revision: a store at any other revision is refused with "run
`orderflow db upgrade`". It is written here so that checking a store needs no Alembic
import (the CLI's quick commands read one table); `tests/unit/test_migrations_head.py`
fails when a new revision does not move it.
"""

HEAD = "0009"
