"""`migrations.HEAD`, which store checks compare against without importing Alembic,
is the head of the Alembic history itself: a new revision that does not move it fails."""

import migrations
from adapters.sql.migrate import head_revision


def test_head_constant_is_the_head_of_the_history() -> None:
    assert head_revision() == migrations.HEAD
