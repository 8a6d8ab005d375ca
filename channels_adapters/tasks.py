"""Celery tasks: thin. Each takes ids, calls one service, and owns its retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from config.enqueue import enqueue_now


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def process_inbound_event(self: Any, event_id: int, *more_ids: int) -> int:
    """Process the named stored events (a web process sends many at once when busy); returns how many."""
    from django.conf import settings

    from channels_adapters.inbound import inbound_events_process

    ids = [event_id, *more_ids]
    return len(inbound_events_process(event_ids=ids, batch=max(settings.INBOUND_BATCH, len(ids))))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_entry(entry_id: int) -> None:
    from channels_adapters.outbound import entry_deliver

    retry_in = entry_deliver(entry_id=entry_id)
    if retry_in is not None:
        enqueue_now(deliver_entry, entry_id, countdown=retry_in)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    max_retries=5,
    retry_backoff=True,
)
def fetch_attachment(attachment_id: int) -> None:
    from channels_adapters.media import attachment_fetch

    retry_in = attachment_fetch(attachment_id=attachment_id)
    if retry_in is not None:
        enqueue_now(fetch_attachment, attachment_id, countdown=retry_in)


@shared_task
def sweep_inbound_events() -> int:
    from django.conf import settings

    from channels_adapters.inbound import inbound_events_sweep
    from channels_adapters.media import attachments_sweep

    attachments_sweep(older_than_s=settings.INBOUND_SWEEP_AFTER_S)
    return inbound_events_sweep()


@shared_task
def reconcile_outbound_entries() -> dict[str, int]:
    from channels_adapters.outbound import outbound_reconcile

    return outbound_reconcile()


@shared_task
def poll_imap_mailboxes() -> int:
    from channels_adapters.email.imap import mailboxes_poll

    return mailboxes_poll()


@shared_task
def prune_webchat_uploads() -> int:
    """Delete web chat uploads no message took (channels_adapters.webchat.services)."""
    from channels_adapters.webchat.services import webchat_uploads_prune

    return webchat_uploads_prune()


@shared_task
def sync_message_templates() -> dict[str, int | str]:
    """WhatsApp templates and their approval, from Twilio's Content API, for every account an inbox sends through."""
    from channels_adapters.whatsapp_templates import templates_sync_all

    return templates_sync_all()
