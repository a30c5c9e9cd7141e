"""Schema migrations: bring any database up to the newest Alembic revision.

Every worker, scheduler and web process calls `upgrade` as it opens the store, and the database
is nearly always at the newest revision already. Alembic (and Mako, which it imports) costs ~7 MB
in each of those processes for nothing then (benchmarks/pipeline.py, docs/performance.md), so
`upgrade` first reads the revision with one SELECT and imports Alembic only when there is
something to apply. `SCHEMA_HEAD` names the newest revision without Alembic's help;
tests/test_store_migrate.py keeps it equal to Alembic's head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision under migrations/versions: change it with each new migration.
SCHEMA_HEAD = "0005"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration; safe to call from several processes at once."""
    if revision == "head" and recorded_revisions(engine) == [SCHEMA_HEAD]:
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def recorded_revisions(engine: Engine) -> list[str]:
    """What Alembic's version table holds, read without Alembic; [] when there is none (a new
    database) or it cannot be read (then Alembic itself tries, and says what is wrong)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return [str(row[0]) for row in rows]
    except SQLAlchemyError:
        return []


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        rev = MigrationContext.configure(connection).get_current_revision()
        return None if rev is None else str(rev)
