"""Indexes that find a customer fast on PostgreSQL: a phone by its last digits (the address reversed, so a
suffix is a prefix), and a name by any part of it (trigrams, when the pg_trgm extension can be had: a hosted
PostgreSQL that refuses CREATE EXTENSION gets a sequential scan, not a failed migration). SQLite needs neither."""

from __future__ import annotations

from typing import Any

from django.db import migrations

PHONE_SUFFIX = (
    "CREATE INDEX IF NOT EXISTS identity_address_reversed "
    "ON contacts_identity (kind, reverse(address) text_pattern_ops)"
)
NAME_TRIGRAMS = (
    "CREATE INDEX IF NOT EXISTS contact_name_trigrams ON contacts_contact USING gin (upper(name::text) gin_trgm_ops)"
)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PHONE_SUFFIX)
        cursor.execute("SAVEPOINT trgm")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute(NAME_TRIGRAMS)
            cursor.execute("RELEASE SAVEPOINT trgm")
        except Exception:  # no right to create the extension here: names are found without an index
            cursor.execute("ROLLBACK TO SAVEPOINT trgm")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS identity_address_reversed")
        cursor.execute("DROP INDEX IF EXISTS contact_name_trigrams")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_import_file_streamed")]

    operations = [migrations.RunPython(create, drop)]
