"""Celery tasks of the contacts app: thin."""

from __future__ import annotations

from celery import shared_task


@shared_task
def import_contacts(import_id: int) -> int:
    from contacts.imports import contact_import_run

    return contact_import_run(import_id=import_id).processed_rows
