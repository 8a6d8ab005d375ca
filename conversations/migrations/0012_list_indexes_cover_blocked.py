"""The inbox list's four view indexes carry `blocked_at` (INCLUDE), so the views' counts, which leave
blocked senders out, read the indexes alone.

On PostgreSQL each index is rebuilt CONCURRENTLY under a temporary name, then swapped in: the hub keeps
reading and writing threads throughout, and no moment passes without the index. Elsewhere (the embedded
SQLite, which has no INCLUDE) the index is simply dropped and made again.
"""

from typing import Any

from django.db import migrations, models
from django.db.models import Q

STATUS = ["status", "-last_activity_at", "-id"]


def _indexes(include: list[str]) -> list[models.Index]:
    return [
        models.Index(fields=STATUS, include=include, name="conversation_status_recent"),
        models.Index(
            fields=["assignee", "status", "-last_activity_at", "-id"],
            include=include,
            name="conversation_mine_recent",
        ),
        models.Index(
            fields=STATUS,
            include=include,
            condition=Q(assignee__isnull=True),
            name="conversation_unassigned_recent",
        ),
        models.Index(
            fields=STATUS,
            include=include,
            condition=Q(waiting_since__isnull=False),
            name="conversation_unanswered_recent",
        ),
    ]


OLD, NEW = _indexes([]), _indexes(["blocked_at"])


def _swap(to: list[models.Index], apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("conversations", "Conversation")
    for index in to:
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.remove_index(model, index)
            schema_editor.add_index(model, index)
            continue
        quote = schema_editor.quote_name
        building = index.clone()
        building.name = f"{index.name}_next"
        # IF EXISTS: a run cut short (CONCURRENTLY cannot be rolled back) is simply run again.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(building.name)}")
        schema_editor.execute(building.create_sql(model, schema_editor, concurrently=True))
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(index.name)}")
        schema_editor.execute(f"ALTER INDEX {quote(building.name)} RENAME TO {quote(index.name)}")


def forwards(apps: Any, schema_editor: Any) -> None:
    _swap(NEW, apps, schema_editor)


def backwards(apps: Any, schema_editor: Any) -> None:
    _swap(OLD, apps, schema_editor)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("conversations", "0011_webchat_widget_settings"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                *(migrations.RemoveIndex(model_name="conversation", name=index.name) for index in OLD),
                *(migrations.AddIndex(model_name="conversation", index=index) for index in NEW),
            ],
        )
    ]
