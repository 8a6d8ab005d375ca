"""Celery tasks of the conversations app: thin."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task
def prune_realtime_events() -> int:
    from conversations.realtime import event_log_prune

    return event_log_prune(older_than_s=settings.REALTIME_EVENT_RETENTION_S)


@shared_task
def wake_snoozed_conversations() -> int:
    from conversations.services import conversations_wake_due

    return conversations_wake_due()


@shared_task
def hand_back_absent_agents_threads() -> int:
    from conversations.assignment import assignment_handover_absent

    return assignment_handover_absent()


@shared_task(name="contacts.tasks.import_contacts")  # the name it had when imports lived in contacts
def import_contacts(import_id: int) -> int:
    from conversations.imports import contact_import_run

    return contact_import_run(import_id=import_id).processed_rows
