"""Fetching inbound media (MMS) into our own storage, so agents get it from an authenticated URL."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from channels_adapters.accounts import twilio_account_by_sid
from channels_adapters.base import AdapterError
from channels_adapters.registry import get_adapter
from config.enqueue import enqueue_now
from config.file_check import EXTENSIONS, file_checked
from config.file_check import sniff_content_type as sniff_content_type  # where it lived first
from conversations.models import Attachment
from conversations.services import entry_touch

logger = logging.getLogger("hub.media")

MAX_ATTEMPTS = 5


def attachment_fetch(*, attachment_id: int) -> float | None:
    """Fetch one attachment. Returns a delay when a transient error asks for another attempt."""
    attachment = Attachment.objects.select_related("entry").filter(pk=attachment_id).first()
    if attachment is None or attachment.state != Attachment.PENDING:
        return None
    account = twilio_account_by_sid(str(attachment.entry.data.get("account_sid", "")))
    if account is None or account.sandbox:
        _finish(attachment, state=Attachment.FAILED, error="No Twilio credentials to fetch this media with.")
        return None
    adapter = get_adapter("twilio_messaging")
    try:
        content, _declared = adapter.fetch_media(
            attachment.source_url, account=account, max_bytes=settings.MEDIA_MAX_BYTES
        )
    except AdapterError as error:
        attachment.attempts += 1
        if error.permanent or attachment.attempts >= MAX_ATTEMPTS:
            state = Attachment.REFUSED if error.permanent else Attachment.FAILED
            _finish(attachment, state=state, error=error.message)
            return None
        delay = float(30 * attachment.attempts)
        Attachment.objects.filter(pk=attachment.pk).update(
            attempts=attachment.attempts,
            error=error.message,
            next_try_at=timezone.now() + timedelta(seconds=delay),
        )
        return delay
    # An image that does not hold up (a decompression bomb, a page behind an image header) is kept as a
    # plain file: downloadable, never drawn in the agent's page.
    content_type = file_checked(content).content_type
    name = f"media-{attachment.position + 1}.{EXTENSIONS.get(content_type, 'bin')}"
    attachment.file.save(name, ContentFile(content), save=False)
    attachment.filename = name
    attachment.content_type = content_type
    attachment.size = len(content)
    _finish(attachment, state=Attachment.STORED, error="")
    return None


def attachments_sweep(*, older_than_s: float, limit: int = 200) -> int:
    """Enqueue fetches that are overdue: never enqueued (the broker was down) or a retry that was lost."""
    from channels_adapters import tasks

    threshold = timezone.now() - timedelta(seconds=older_than_s)
    ids = list(
        Attachment.objects.filter(state=Attachment.PENDING, next_try_at__lte=threshold)
        .order_by("next_try_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        Attachment.objects.filter(pk__in=ids).update(next_try_at=timezone.now())
    return sum(1 for attachment_id in ids if enqueue_now(tasks.fetch_attachment, attachment_id))


def _finish(attachment: Attachment, *, state: str, error: str) -> None:
    with transaction.atomic():
        attachment.state = state
        attachment.error = error
        attachment.save()
        entry = attachment.entry
        entry_touch(entry=entry, fields=[])
