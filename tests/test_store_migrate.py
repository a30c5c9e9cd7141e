"""Opening the store migrates a database that is behind, and imports Alembic only then."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from workers.store import migrate, open_store


def test_the_head_named_in_code_is_alembics_head() -> None:
    assert migrate.head_revision() == migrate.SCHEMA_HEAD


def test_a_new_database_is_migrated_to_the_head(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    assert migrate.recorded_revisions(store.engine) == [migrate.SCHEMA_HEAD]
    assert "articles" in inspect(store.engine).get_table_names()
    store.engine.dispose()


def test_a_database_behind_the_head_is_brought_to_it(sqlite_url: str) -> None:
    store = open_store(sqlite_url, migrate_schema=False)
    migrate.upgrade(store.engine, "0003")
    assert migrate.recorded_revisions(store.engine) == ["0003"]
    migrate.upgrade(store.engine)
    assert migrate.recorded_revisions(store.engine) == [migrate.SCHEMA_HEAD]
    store.engine.dispose()


def test_opening_a_database_at_the_head_does_not_import_alembic(sqlite_url: str) -> None:
    open_store(sqlite_url).engine.dispose()
    code = (
        "import sys; from workers.store import open_store; "
        f"open_store({sqlite_url!r}); print('alembic' in sys.modules, 'mako' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]
