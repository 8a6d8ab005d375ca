"""Files an agent sends: each channel's limits checked before anything is queued, the files stored as the
entry's attachments, and the signed, expiring URLs Twilio (MMS, WhatsApp) and the web chat widget fetch them at.

A signed URL carries the attachment's storage path, so serving it needs no database read; a redacted or erased
attachment's file is deleted, and its URL then answers 404 like a tampered or expired one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.errors import ChannelRuleError, ValidationError
from config.file_check import file_checked, filename_for
from conversations.models import Attachment, Entry

MEDIA_SALT = "hub.outbound.media"
FILES_PER_MESSAGE = 10

# Twilio MMS: up to 10 files and 5 MB in all; Twilio refuses more.
MMS_MAX_FILES = 10
MMS_MAX_BYTES = 5 * 1024 * 1024
# Twilio WhatsApp: one file per message, of a type WhatsApp accepts, each type with its own size.
WHATSAPP_MEDIA_LIMITS: dict[str, tuple[str, int]] = {
    "image/jpeg": ("JPEG image", 5 * 1024 * 1024),
    "image/png": ("PNG image", 5 * 1024 * 1024),
    "audio/mpeg": ("MP3 audio", 16 * 1024 * 1024),
    "audio/ogg": ("OGG audio", 16 * 1024 * 1024),
    "audio/amr": ("AMR audio", 16 * 1024 * 1024),
    "video/mp4": ("MP4 video", 16 * 1024 * 1024),
    "application/pdf": ("PDF document", 16 * 1024 * 1024),
}


class Upload(Protocol):
    """What the composer hands over: a Django UploadedFile, or anything with a name, a size and bytes."""

    @property
    def name(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str  # sniffed from the bytes
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


def outbound_files_read(*, uploads: Sequence[Upload]) -> list[CheckedFile]:
    """Read and judge the agent's files by their bytes (never by the name or the browser's type)."""
    if len(uploads) > FILES_PER_MESSAGE:
        raise ValidationError(f"At most {FILES_PER_MESSAGE} files in one message.")
    # Checked on the sizes the upload declares, before any file is read into memory.
    total = sum(int(upload.size or 0) for upload in uploads)
    if total > settings.OUTBOUND_FILE_MAX_BYTES:
        raise ValidationError(
            f"The files come to {_mb(total)}; the hub sends at most {_mb(settings.OUTBOUND_FILE_MAX_BYTES)} "
            "in one message."
        )
    files: list[CheckedFile] = []
    for upload in uploads:
        content = upload.read()
        if not content:
            raise ValidationError(f"{upload.name or 'The file'} is empty.")
        content_type = file_checked(content).content_type
        files.append(
            CheckedFile(
                name=filename_for(str(upload.name or "file"), content_type),
                content_type=content_type,
                content=content,
            )
        )
    return files


def outbound_files_check(
    *,
    channel: str,
    files: Sequence[CheckedFile],
    from_address: str = "",
    to_address: str = "",
    window_open: bool = True,
) -> None:
    """Refuse, with the reason, files the channel cannot carry. Called before anything is queued."""
    if not files:
        return
    total = sum(f.size for f in files)
    if channel == Entry.SMS:
        for address, who in ((from_address, "The business number"), (to_address, "The customer's number")):
            if address and not address.startswith("+1"):
                raise ChannelRuleError(
                    f"{who} {address} cannot take MMS: Twilio sends picture messages only between US and "
                    "Canadian numbers. Send the file by WhatsApp or email instead."
                )
        if len(files) > MMS_MAX_FILES:
            raise ValidationError(f"An MMS carries at most {MMS_MAX_FILES} files; this one has {len(files)}.")
        if total > MMS_MAX_BYTES:
            raise ValidationError(
                f"The files come to {_mb(total)}; an MMS carries at most {_mb(MMS_MAX_BYTES)} in all."
            )
    elif channel == Entry.WHATSAPP:
        if not window_open:
            raise ChannelRuleError(
                "Outside WhatsApp's 24 hours since the customer's last message, only an approved media "
                "template can carry a file; this file cannot be sent as a free-form message."
            )
        if len(files) > 1:
            raise ValidationError(
                f"WhatsApp carries one file per message; send the {len(files)} files one by one."
            )
        kind = WHATSAPP_MEDIA_LIMITS.get(files[0].content_type)
        if kind is None:
            accepted = ", ".join(label for label, _ in WHATSAPP_MEDIA_LIMITS.values())
            raise ValidationError(
                f"WhatsApp does not carry {files[0].name} ({files[0].content_type}); it takes {accepted}."
            )
        label, limit = kind
        if files[0].size > limit:
            raise ValidationError(
                f"{files[0].name} is {_mb(files[0].size)}; WhatsApp takes a {label} up to {_mb(limit)}."
            )
    elif channel == Entry.EMAIL:
        if total > settings.EMAIL_ATTACHMENTS_MAX_BYTES:
            raise ValidationError(
                f"The attachments come to {_mb(total)}; an email from the hub carries at most "
                f"{_mb(settings.EMAIL_ATTACHMENTS_MAX_BYTES)} (encoding makes them a third larger on the way)."
            )
    elif channel == Entry.WEBCHAT:
        if total > settings.WEBCHAT_UPLOAD_MAX_BYTES:
            raise ValidationError(
                f"The files come to {_mb(total)}; web chat carries at most {_mb(settings.WEBCHAT_UPLOAD_MAX_BYTES)}."
            )
    else:
        raise ValidationError(f"Files cannot be sent on the {channel} channel.")


def outbound_files_attach(*, entry: Entry, files: Sequence[CheckedFile]) -> list[Attachment]:
    """Store the files as the entry's attachments (inside the caller's transaction)."""
    attachments = []
    for position, item in enumerate(files):
        attachment = Attachment(
            entry=entry,
            position=position,
            filename=item.name[:255],
            declared_content_type=item.content_type,
            content_type=item.content_type,
            size=item.size,
            state=Attachment.STORED,
        )
        attachment.file.save(
            f"outbound-{entry.pk}-{position}-{item.name}", ContentFile(item.content), save=False
        )
        attachment.save()
        attachments.append(attachment)
    return attachments


def media_url_sign(attachment: Attachment) -> str:
    """A URL on PUBLIC_BASE_URL that serves the attachment to whoever holds it, until it expires."""
    token = signing.dumps(
        {
            "a": attachment.pk,
            "p": attachment.file.name,
            "t": attachment.content_type,
            "n": attachment.filename,
        },
        salt=MEDIA_SALT,
        compress=True,
    )
    return f"{settings.PUBLIC_BASE_URL}/media/outbound/{token}/{quote(attachment.filename or 'file')}"


def media_url_verify(token: str) -> dict[str, Any] | None:
    """What a signed URL names, or None when it was tampered with or has expired."""
    try:
        data = signing.loads(token, salt=MEDIA_SALT, max_age=settings.OUTBOUND_MEDIA_URL_MAX_AGE_S)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(data, dict) or not default_storage.exists(str(data.get("p", ""))):
        return None
    return data
