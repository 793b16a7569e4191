"""The migration scripts build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from deepfort.crypto.sm import Keyring
from deepfort.store import Store
from deepfort.store.db import WRITE
from deepfort.store.migrate import MIGRATIONS, alembic_config, upgrade
from deepfort.store.models import Base

TABLES = {
    "api_keys",
    "data_keys",
    "conversations",
    "messages",
    "request_records",
    "audit_entries",
    "feedback",
    "workflows",
    "workflow_runs",
    "workflow_run_events",
    "artefacts",
    "artefact_uses",
}


def test_migrated_database_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert context.get_current_revision() == head == "0004"
    assert set(inspect(store.engine).get_table_names()) == TABLES | {"alembic_version"}


def test_open_is_idempotent_and_keeps_data(db_url: str, master: Keyring) -> None:
    with Store.open(db_url, master) as store:
        conversation = store.create_conversation("alice", "kept", None)
    with Store.open(db_url, master) as store:
        got = store.get_conversation(conversation.id, "alice")
        assert got is not None and got.title == "kept"


def test_downgrade_to_empty_and_back(store: Store) -> None:
    config = alembic_config()
    with store.engine.execution_options(**WRITE).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    upgrade(store.engine)
    assert set(inspect(store.engine).get_table_names()) == TABLES | {"alembic_version"}


def test_scripts_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert len(list(ScriptDirectory(str(MIGRATIONS)).walk_revisions())) >= 1


def test_0004_records_the_run_of_each_existing_artefact(store: Store) -> None:
    workflow, _ = store.publish_workflow("story", "d1", "{}")
    run, _ = store.create_run(workflow, {}, "alice")
    store.add_artefact("ab" * 32, "/x/ab.png", "image/png", 10, run.id, "card")
    config = alembic_config()
    with store.engine.execution_options(**WRITE).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    upgrade(store.engine)
    assert store.artefact_key_ids("ab" * 32) == {"alice"}
    got = store.get_run(run.id)
    assert got is not None and (got.owner, got.resumes, got.cancel_requested) == (None, 0, False)
