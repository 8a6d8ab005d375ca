"""Web chat: a visitor's messages into the inbound pipeline, who the visitor is, what they read, and replies.

The consumer (channels_adapters.webchat.consumers) is thin: every decision is here. A visitor is named by a
verified `visitor` identity; everything a visitor may read is found from that identity, never from an id the
browser sends, so a visitor can only ever read their own thread.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_adapters.base import InboundMessage, StatusUpdate
from channels_adapters.inbound import inbound_event_store, inbound_message_record
from channels_adapters.models import InboundEvent
from channels_adapters.outbound_files import (
    CheckedFile,
    media_url_sign,
    outbound_files_attach,
    outbound_files_check,
)
from channels_adapters.registry import get_adapter
from channels_adapters.webchat.adapter import KIND, PROVIDER
from channels_adapters.webchat.identity import user_hash_valid
from channels_adapters.webchat.settings import identity_secrets, identity_site
from config.errors import ChannelRuleError, HubError, ValidationError
from config.throttling import throttle_hit, throttle_wait
from config.websocket import origin_normalized
from contacts import addresses
from contacts.models import Contact, Identity
from contacts.services import contact_created_publish, contact_resolve, contact_surviving
from conversations.customers import contact_merge
from conversations.hours import is_open
from conversations.models import AgentProfile, Conversation, Entry, Inbox
from conversations.selectors import inboxes_sendable_by
from conversations.services import conversation_get_or_create, entry_touch, event_append

logger = logging.getLogger("hub.webchat")

# The unverified email a visitor left for an answer by email: an attribute, never an identity.
EMAIL_CLAIM = "webchat_email"
CLAIMED_PREFIX = "claimed_"  # Hub.identify without a valid hash: what the visitor said, kept as claims
HISTORY_LIMIT = 200
SYNC_OVERLAP = timedelta(seconds=10)
PRESENCE_TTL_S = 70  # the widget pings every 25 s
PAGES_KEPT = 10
PAGE_VIEW_EVERY_S = 5
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class WebchatRefused(HubError):
    """A visitor's frame the hub refuses; the widget shows the message."""

    def __init__(self, message: str, *, code: str = "invalid", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class VisitorMessage(TypedDict):
    """A message as the widget shows it: only messages, never notes or events."""

    id: int
    v: int
    mine: bool  # written by the customer (on any channel)
    body: str
    at: str
    name: str
    channel: str
    status: str  # an agent's message: queued, sent, delivered, read, failed
    seen: bool  # the customer's message: an agent has opened the thread since
    client_id: str
    files: list[str]  # names of the files attached
    links: list[VisitorLink]  # an agent's files, to open


class VisitorLink(TypedDict):
    name: str
    url: str  # signed, expiring (OUTBOUND_MEDIA_URL_MAX_AGE_S); a fresh one with every frame and history
    image: bool


class PageView(TypedDict):
    url: str
    title: str
    referrer: str
    at: str


# --- the widget's inbox -------------------------------------------------------------------------
def widget_inbox(*, widget_key: str, origin: str | None) -> Inbox | None:
    """The web chat inbox of this key when the page's origin may embed it; None refuses the handshake."""
    if not widget_key or len(widget_key) > 64:
        return None
    inbox = Inbox.objects.filter(kind=Inbox.WEBCHAT, widget_key=widget_key).first()
    if inbox is None or origin is None:
        return None
    normalized = origin_normalized(origin)
    allowed = {origin_normalized(o) for o in inbox.allowed_origins or [] if isinstance(o, str)}
    if normalized is not None and normalized in allowed:
        return inbox
    if normalized is not None:
        refused_origin_record(inbox=inbox, origin=origin.strip().rstrip("/").lower())
    return None


# Origins refused recently, per inbox, for the settings page's "allow" list: in the cache (a week), at most
# REFUSED_ORIGINS_KEPT per inbox, so a page hammering the socket costs one small cache write per attempt.
REFUSED_ORIGINS_KEPT = 20
REFUSED_ORIGINS_FOR_S = 7 * 24 * 3600


def _refused_key(inbox_id: int) -> str:
    return f"webchat:refused-origins:{inbox_id}"


def refused_origin_record(*, inbox: Inbox, origin: str) -> None:
    from django.core.cache import cache

    try:
        seen: dict[str, dict[str, Any]] = cache.get(_refused_key(inbox.pk)) or {}
        entry = seen.pop(origin, {"count": 0})
        seen[origin] = {"count": int(entry.get("count", 0)) + 1, "last": timezone.now().isoformat()}
        while len(seen) > REFUSED_ORIGINS_KEPT:
            seen.pop(next(iter(seen)))
        cache.set(_refused_key(inbox.pk), seen, REFUSED_ORIGINS_FOR_S)
    except Exception:  # a cache that is down never turns a refusal into an error
        logger.warning("could not record a refused origin for inbox %s", inbox.pk, exc_info=True)


def refused_origins(*, inbox: Inbox) -> list[dict[str, Any]]:
    """Origins whose pages were refused the widget recently, the latest first, minus those now allowed."""
    from django.core.cache import cache

    allowed = {origin_normalized(o) for o in inbox.allowed_origins or [] if isinstance(o, str)}
    seen: dict[str, dict[str, Any]] = cache.get(_refused_key(inbox.pk)) or {}
    rows = [
        {"origin": origin, "count": entry.get("count", 0), "last": datetime.fromisoformat(entry["last"])}
        for origin, entry in seen.items()
        if origin_normalized(origin) not in allowed and entry.get("last")
    ]
    return sorted(rows, key=lambda row: row["last"], reverse=True)


def refused_origin_allow(*, inbox: Inbox, origin: str) -> Inbox:
    """An admin allows an origin the widget was refused on: added to the inbox's allowed origins."""
    from channels_adapters.webchat.settings import origins_clean

    inbox.allowed_origins = origins_clean([*(inbox.allowed_origins or []), origin])
    inbox.save(update_fields=["allowed_origins"])
    return inbox


def agents_online(*, inbox: Inbox) -> bool:
    """Someone who can answer this inbox says they are online (its team's agents, or a manager or admin)."""
    who = Q(role__in=(AgentProfile.MANAGER, AgentProfile.ADMIN))
    if inbox.team_id is not None:
        who |= Q(teams=inbox.team_id)
    return AgentProfile.objects.filter(who, availability=AgentProfile.ONLINE, user__is_active=True).exists()


def widget_status(*, inbox: Inbox) -> dict[str, Any]:
    """What the widget shows of the business: its name, greeting, color and whether anyone answers now."""
    open_now = is_open(inbox)
    online = open_now and agents_online(inbox=inbox)
    return {
        "name": inbox.name,
        "greeting": inbox.widget_greeting or f"Hi! Ask us anything about {inbox.name}.",
        "color": inbox.widget_color,
        "open": open_now,
        "online": online,
        "away": ""
        if online
        else ("We're closed right now." if not open_now else "Nobody is at their desk right now.")
        + " Leave your email and we'll answer there.",
        "max_chars": settings.WEBCHAT_MAX_CHARS,
        "upload_max": settings.WEBCHAT_UPLOAD_MAX_BYTES,
        "upload_types": list(settings.WEBCHAT_UPLOAD_TYPES),
    }


# --- who is visiting ------------------------------------------------------------------------------
def visitor_contact(*, visitor_id: str) -> Contact | None:
    identity = (
        Identity.objects.select_related("contact")
        .filter(kind=addresses.VISITOR, address=visitor_id, verified=True)
        .first()
    )
    return contact_surviving(identity.contact) if identity is not None else None


def visitor_thread_id(*, visitor_id: str) -> int | None:
    contact = visitor_contact(visitor_id=visitor_id)
    if contact is None:
        return None
    return Conversation.objects.filter(contact=contact).values_list("pk", flat=True).first()


def visitor_groups(*, conversation_id: int) -> list[str]:
    """The groups of the web chat visitors whose thread this is (typing indicators go there)."""
    from conversations.realtime import group_visitor

    return [
        group_visitor(address)
        for address in Identity.objects.filter(
            kind=addresses.VISITOR, verified=True, contact__conversation=conversation_id
        ).values_list("address", flat=True)
    ]


def _presence_key(visitor_id: str) -> str:
    return f"webchat:present:{visitor_id}"


def visitor_connected(*, visitor_id: str, connected: bool) -> None:
    """A widget of this visitor opened or closed: the visitor is present while any of their tabs is open.

    A count of open widgets, not a flag, so closing one of two tabs leaves the visitor present (a reply
    then stays in the chat instead of going by email). The count expires without pings, so a tab that
    died without closing is forgotten within PRESENCE_TTL_S once no other tab pings.
    """
    key = _presence_key(visitor_id)
    cache.add(key, 0, timeout=PRESENCE_TTL_S)
    try:
        count = cache.incr(key) if connected else cache.decr(key)
    except ValueError:  # expired between the two calls
        count = -1
    if connected and count < 1:
        cache.set(key, 1, timeout=PRESENCE_TTL_S)
    elif not connected and count < 0:
        cache.set(key, 0, timeout=PRESENCE_TTL_S)


def visitor_seen(*, visitor_id: str) -> None:
    """A widget pinged: its visitor stays present for another PRESENCE_TTL_S."""
    key = _presence_key(visitor_id)
    if not cache.touch(key, timeout=PRESENCE_TTL_S) or not visitor_is_present(visitor_id=visitor_id):
        cache.set(key, 1, timeout=PRESENCE_TTL_S)  # forgotten meanwhile, yet a tab is plainly open


def visitor_is_present(*, visitor_id: str) -> bool:
    return int(cache.get(_presence_key(visitor_id)) or 0) > 0


# --- what a visitor reads -------------------------------------------------------------------------
def visitor_message(entry: Entry) -> VisitorMessage:
    author = entry.author
    name = (author.first_name or author.get_username()) if author is not None else ""
    if not name and entry.direction == Entry.OUTBOUND and entry.inbox is not None:
        name = entry.inbox.name
    return {
        "id": entry.pk,
        "v": entry.version,
        "mine": entry.direction == Entry.INBOUND,
        "body": entry.body,
        "at": entry.created_at.isoformat(),
        "name": name,
        "channel": entry.channel,
        "status": entry.delivery_status if entry.direction == Entry.OUTBOUND else "",
        "seen": bool(entry.data.get("seen_at")) if entry.direction == Entry.INBOUND else False,
        "client_id": str(entry.data.get("client_id", "")),
        "files": [a.filename for a in entry.attachments.all()],
        # An agent's files: links the widget opens, signed and expiring like the media handed to Twilio.
        "links": [
            {"name": a.filename, "url": media_url_sign(a), "image": a.is_inline_image}
            for a in entry.attachments.all()
            if entry.direction == Entry.OUTBOUND and a.state == a.STORED
        ],
    }


def visitor_messages(*, visitor_id: str, since: datetime | None = None) -> list[VisitorMessage]:
    """The messages of the visitor's own thread (oldest first); with `since`, those changed after it."""
    thread = visitor_thread_id(visitor_id=visitor_id)
    if thread is None:
        return []
    entries = (
        Entry.objects.filter(conversation_id=thread, kind=Entry.MESSAGE)
        .select_related("author", "inbox")
        .prefetch_related("attachments")
    )
    if since is not None:
        entries = entries.filter(updated_at__gte=since - SYNC_OVERLAP)
    newest = list(entries.order_by("-created_at", "-id")[:HISTORY_LIMIT])
    return [visitor_message(entry) for entry in reversed(newest)]


# --- a visitor writes -----------------------------------------------------------------------------
def webchat_message_store(
    *, inbox: Inbox, visitor_id: str, client_id: Any, body: Any, ip: str, uploads: Any = None
) -> tuple[InboundEvent, bool]:
    """Store a visitor's message as an InboundEvent, idempotent on the widget's own message id.

    A resend after a dropped socket (same client id) is answered as new and stored once. Refused, with a
    message the widget shows: a message too long or empty, a visitor (or an address) over its rate.
    """
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise WebchatRefused("The widget sent a message without a valid id; reload the page.")
    text = body.strip() if isinstance(body, str) else ""
    files = _uploads_verify(visitor_id=visitor_id, refs=uploads)
    if not text and not files:
        raise WebchatRefused("Write something first.", code="empty")
    limit = settings.WEBCHAT_MAX_CHARS
    if len(text) > limit:
        raise WebchatRefused(
            f"Your message is {len(text):,} characters; the limit is {limit:,}. Send it in parts.",
            code="too_long",
        )
    key = f"webchat:{visitor_id}:{client_id}"
    existing = InboundEvent.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False  # a resend: not counted against the rate
    visitor_rate_take(visitor_id=visitor_id, ip=ip)
    payload: dict[str, Any] = {
        "widget_key": inbox.widget_key,
        "visitor": visitor_id,
        "client_id": client_id,
        "body": text,
    }
    if files:
        payload["files"] = files
    if visitor_contact(visitor_id=visitor_id) is None:
        # The pages a new visitor read before writing go in with the first message, durably.
        pages = _pages_pending(visitor_id)
        if pages:
            payload["pages"] = pages
    event, created = inbound_event_store(kind=KIND, idempotency_key=key, payload=payload)
    if created:
        cache.delete(f"webchat:pages:{visitor_id}")
    return event, created


def visitor_rate_take(*, visitor_id: str, ip: str) -> None:
    """Count one write by this visitor (and their address), or refuse it with how long to wait.

    Messages, files, identify calls and left emails all count: each writes to the thread.
    """
    waits = [
        throttle_wait(scope=scope, ident=ident)
        for scope, ident in (("webchat_visitor", visitor_id), ("webchat_ip", ip))
        if ident
    ]
    found = [wait for wait in waits if wait is not None]
    if found:
        seconds = int(max(found)) + 1
        raise WebchatRefused(
            f"You're sending messages too fast. Please wait {seconds} seconds and try again.",
            code="rate_limited",
            retry_after=seconds,
        )
    throttle_hit(scope="webchat_visitor", ident=visitor_id)
    if ip:
        throttle_hit(scope="webchat_ip", ident=ip)


def webchat_event_record(*, payload: dict[str, Any], received_at: datetime) -> Entry:
    """The inbound recorder for web chat events: the pages read before, then the message, in the thread."""
    message: InboundMessage = get_adapter(KIND).parse_inbound(payload)
    existing = Entry.objects.filter(provider=PROVIDER, provider_id=message.provider_id).first()
    if existing is not None:
        return existing
    inbox = Inbox.objects.filter(kind=Inbox.WEBCHAT, widget_key=message.recipient).first()
    pages = payload.get("pages") or []
    if isinstance(pages, list) and pages:
        contact, _ = contact_resolve(kind=addresses.VISITOR, address=message.sender)
        conversation = conversation_get_or_create(contact=contact)
        for position, page in enumerate(pages[-PAGES_KEPT:]):
            at = _parse_time(page.get("at")) if isinstance(page, dict) else None
            # Before the message whatever the clocks say, in the order they were read.
            latest = received_at - timedelta(milliseconds=len(pages) - position)
            _page_event(conversation, page, at=min(at or latest, latest))
    entry = inbound_message_record(message=message, received_at=received_at, inbox=inbox)
    _uploads_attach(entry, payload.get("files") or [])
    return entry


# --- attachments ----------------------------------------------------------------------------------------
UPLOAD_SALT = "hub.webchat.upload"
UPLOADS_PER_MESSAGE = 5


class UploadRef(TypedDict):
    path: str
    name: str
    type: str
    size: int


def webchat_upload_store(*, inbox: Inbox, token: Any, upload: Any, ip: str) -> dict[str, Any]:
    """A file the visitor attaches: checked (size, sniffed type), stored, and named by a signed reference
    that only this visitor's next message can use."""
    from django.core import signing
    from django.core.files.storage import default_storage

    from channels_adapters.webchat.identity import visitor_token_verify
    from config.file_check import file_checked, filename_for

    visitor_id = visitor_token_verify(inbox_id=inbox.pk, token=token)
    if visitor_id is None:
        raise WebchatRefused("The chat lost track of you; reload the page and try again.", code="visitor")
    if upload is None:
        raise WebchatRefused("Choose a file to send.", code="empty")
    limit = settings.WEBCHAT_UPLOAD_MAX_BYTES
    if upload.size > limit:
        raise WebchatRefused(
            f"The file is {upload.size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB.",
            code="too_large",
        )
    # By the bytes, never the name or the browser's type: an SVG or a page is refused, and so is an image
    # that does not hold up (a decompression bomb, a page behind an image header).
    checked = file_checked(upload.read())
    upload.seek(0)
    if checked.content_type not in settings.WEBCHAT_UPLOAD_TYPES:
        raise WebchatRefused(
            checked.problem or "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.",
            code="file_type",
        )
    content_type = checked.content_type
    visitor_rate_take(visitor_id=visitor_id, ip=ip)
    name = filename_for(str(upload.name or "file"), content_type)
    path = default_storage.save(f"webchat/{visitor_id}/{secrets.token_hex(8)}", upload)
    ref: UploadRef = {"path": path, "name": name, "type": content_type, "size": int(upload.size)}
    return {"upload": signing.dumps({**ref, "visitor": visitor_id}, salt=UPLOAD_SALT), "name": name}


def _uploads_verify(*, visitor_id: str, refs: Any) -> list[UploadRef]:
    from django.core import signing

    if refs in (None, []):
        return []
    if not isinstance(refs, list) or len(refs) > UPLOADS_PER_MESSAGE:
        raise WebchatRefused(f"At most {UPLOADS_PER_MESSAGE} files in one message.")
    files: list[UploadRef] = []
    for ref in refs:
        try:
            data = signing.loads(str(ref), salt=UPLOAD_SALT, max_age=86400)
        except signing.BadSignature:
            data = None
        if not isinstance(data, dict) or data.get("visitor") != visitor_id:
            raise WebchatRefused("That file was not uploaded by you; attach it again.", code="file")
        files.append({"path": data["path"], "name": data["name"], "type": data["type"], "size": data["size"]})
    return files


def _uploads_attach(entry: Entry, files: list[Any]) -> None:
    from conversations.models import Attachment

    if not files or entry.attachments.exists():
        return  # nothing attached, or recorded already
    for position, item in enumerate(files):
        attachment = Attachment(
            entry=entry,
            position=position,
            filename=str(item["name"])[:255],
            declared_content_type=str(item["type"]),
            content_type=str(item["type"]),
            size=int(item["size"]),
            state=Attachment.STORED,
        )
        attachment.file.name = str(item["path"])
        attachment.save()


# An upload's reference is good for a day (_uploads_verify); a file no message took is deleted after two.
UPLOADS_KEPT = timedelta(days=2)


def webchat_uploads_prune(*, now: datetime | None = None) -> int:
    """Delete the files visitors uploaded and never sent, once no message can take them any more.

    Kept whatever their age: files attached to an entry, and files named by a stored message the pipeline
    has not recorded yet (a backlog costs latency, never a customer's file). Returns how many went.
    """
    from django.core.files.storage import default_storage

    from conversations.models import Attachment

    cutoff = (now or timezone.now()) - UPLOADS_KEPT
    try:
        visitors, _ = default_storage.listdir("webchat")
    except FileNotFoundError:
        return 0
    removed = 0
    for visitor in visitors:
        folder = f"webchat/{visitor}"
        old = [
            f"{folder}/{name}"
            for name in default_storage.listdir(folder)[1]
            if default_storage.get_modified_time(f"{folder}/{name}") < cutoff
        ]
        if not old:
            continue
        # The unrecorded messages first, then the attachments: a message recorded between the two reads
        # is seen by the second.
        kept: set[str] = set()
        for payload in (
            InboundEvent.objects.filter(kind=KIND, payload__visitor=visitor)
            .exclude(state=InboundEvent.DONE)
            .values_list("payload", flat=True)
        ):
            kept.update(
                str(item.get("path")) for item in payload.get("files") or [] if isinstance(item, dict)
            )
        kept.update(Attachment.objects.filter(file__in=old).values_list("file", flat=True))
        for path in old:
            if path not in kept:
                default_storage.delete(path)
                removed += 1
    return removed


# --- what the visitor reads on the host site --------------------------------------------------------
def page_clean(raw: Any) -> PageView | None:
    """A page the widget reported: an http(s) URL, a title, the referrer; None for anything else."""
    if not isinstance(raw, dict):
        return None
    url = str(raw.get("url") or "")[:1000]
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    referrer = str(raw.get("referrer") or "")[:1000]
    if referrer and urlsplit(referrer).scheme not in ("http", "https"):
        referrer = ""
    title = " ".join(str(raw.get("title") or "").split())[:200]
    return {"url": url, "title": title, "referrer": referrer, "at": timezone.now().isoformat()}


def webchat_page_view(*, inbox: Inbox, visitor_id: str, page: Any) -> Entry | None:
    """A page view: an event in the visitor's thread, throttled; kept aside until a new visitor writes."""
    view = page_clean(page)
    if view is None:
        return None
    if origin_normalized(_origin(view["url"])) not in {
        origin_normalized(o) for o in inbox.allowed_origins or []
    }:
        return None  # only pages of the sites that embed the widget
    contact = visitor_contact(visitor_id=visitor_id)
    if contact is None:
        pages = [*_pages_pending(visitor_id), view][-PAGES_KEPT:]
        cache.set(f"webchat:pages:{visitor_id}", pages, timeout=86400)
        return None
    if not cache.add(f"webchat:page-every:{visitor_id}", 1, timeout=PAGE_VIEW_EVERY_S):
        return None
    last_key = f"webchat:last-page:{visitor_id}"
    if cache.get(last_key) == view["url"]:
        return None  # a reload of the same page
    cache.set(last_key, view["url"], timeout=1800)
    return _page_event(conversation_get_or_create(contact=contact), view, at=timezone.now())


def _pages_pending(visitor_id: str) -> list[PageView]:
    pages = cache.get(f"webchat:pages:{visitor_id}")
    return list(pages) if isinstance(pages, list) else []


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page_event(conversation: Conversation, page: Any, *, at: datetime) -> Entry | None:
    view = page if isinstance(page, dict) else None
    if view is None or urlsplit(str(view.get("url", ""))).scheme not in ("http", "https"):
        return None
    url, title = str(view["url"])[:1000], str(view.get("title") or "")[:200]
    referrer = str(view.get("referrer") or "")[:1000]
    utm = {k: v[:100] for k, v in parse_qsl(urlsplit(url).query) if k in UTM_KEYS}
    text = f"Read “{title}” ({url})" if title else f"Read {url}"
    if referrer and _origin(referrer) != _origin(url):
        text += f", arriving from {urlsplit(referrer).netloc or referrer}"
    if utm:
        text += " [" + ", ".join(f"{k}={v}" for k, v in utm.items()) + "]"
    return event_append(
        conversation=conversation,
        event_type="webchat.page_viewed",
        body=text,
        data={"url": url, "title": title, "referrer": referrer, "utm": utm},
        created_at=at,
    )


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# --- Hub.identify -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identified:
    verified: bool
    merged: bool


def webchat_identify(*, inbox: Inbox, visitor_id: str, claims: Any, ip: str = "") -> Identified:
    """The host site says who the visitor is. Believed only with a valid `user_hash`.

    Valid: the visitor joins the contact who owns that user id (or email, when the site signs emails), and
    the anonymous history is merged into that contact's lifetime thread. Without a valid hash, what the
    visitor claims is kept as attributes of the visitor's own contact: never an identity, never a merge,
    never a look at anyone's history.
    """
    if not isinstance(claims, dict):
        raise WebchatRefused("Hub.identify takes an object: {email, name, user_id, user_hash}.")
    email = str(claims.get("email") or "").strip()[:320]
    name = " ".join(str(claims.get("name") or "").split())[:200]
    user_id = str(claims.get("user_id") or "").strip()[:200]
    given = claims.get("user_hash")
    if email and not addresses.normalize_email(email).valid:
        raise WebchatRefused(f"{email!r} is not an email address.")
    visitor_rate_take(visitor_id=visitor_id, ip=ip)
    signed = user_id or email
    site = identity_site(inbox)
    verified = bool(signed) and any(
        user_hash_valid(secret=secret, value=signed, given=given) for secret in identity_secrets(site)
    )
    with transaction.atomic():
        contact, _ = contact_resolve(kind=addresses.VISITOR, address=visitor_id)
        conversation = conversation_get_or_create(contact=contact)
        if not verified:
            claimed = {
                f"{CLAIMED_PREFIX}{k}": v
                for k, v in (("email", email), ("name", name), ("user_id", user_id))
                if v
            }
            if claimed:
                Contact.objects.filter(pk=contact.pk).update(
                    attributes={**(contact.attributes or {}), **claimed}
                )
            event_append(
                conversation=conversation,
                event_type="webchat.identify_unverified",
                body=(
                    "The visitor's identify call had an invalid user_hash: nothing was linked"
                    if given
                    else "The visitor said who they are, without a user_hash: kept as unverified claims"
                )
                + (f" ({', '.join(f'{k}: {v}' for k, v in claimed.items())})" if claimed else ""),
                data={"claims": claimed, "forged_hash": bool(given)},
            )
            return Identified(verified=False, merged=False)
        kind = addresses.EXTERNAL if user_id else addresses.EMAIL
        normalized = addresses.normalize(kind, signed)
        # A user id names a customer only on the site whose secret signed it; an email names one everywhere.
        scope = addresses.site_scope(site.pk) if kind == addresses.EXTERNAL else ""
        owner = (
            Identity.objects.select_related("contact")
            .filter(kind=kind, scope=scope, address=normalized.address, verified=True)
            .first()
        )
        said = {"kind": kind, "address": normalized.address, "scope": scope, "inbox": inbox.pk}
        survivor = contact_surviving(owner.contact) if owner is not None else None
        if survivor is not None and survivor.pk == contact.pk:
            return Identified(verified=True, merged=False)
        if _is_someone(contact):
            # The browser was another known customer's (a shared computer, a new login): the visitor id
            # moves to the new person; the two customers are never merged.
            target = survivor
            if target is None:
                target = Contact.objects.create(name=name)
                contact_created_publish(target, identity_kind=kind)
            Identity.objects.filter(kind=addresses.VISITOR, address=visitor_id).update(contact=target)
            contact, conversation = target, conversation_get_or_create(contact=target)
            event_append(
                conversation=conversation,
                event_type="webchat.visitor_moved",
                body=f"A web chat browser known as another customer's was verified as {kind} "
                f"{normalized.address}: it now chats here; nothing was merged",
                data={**said, "visitor": visitor_id},
            )
            if survivor is not None:
                return Identified(verified=True, merged=False)
        if owner is None:
            Identity.objects.create(
                contact=contact,
                kind=kind,
                scope=scope,
                address=normalized.address,
                raw_address=normalized.raw,
                verified=True,
                is_valid=normalized.valid,
                last_seen_at=timezone.now(),
            )
            fields: dict[str, Any] = {"name": name} if name and not contact.name else {}
            if user_id and email:
                # Only the user id is signed: the email rides along as a claim.
                fields["attributes"] = {**(contact.attributes or {}), f"{CLAIMED_PREFIX}email": email}
            if fields:
                Contact.objects.filter(pk=contact.pk).update(**fields)
            event_append(
                conversation=conversation,
                event_type="webchat.identified",
                body=f"The host site verified this visitor as {kind} {normalized.address}",
                data=said,
            )
            return Identified(verified=True, merged=False)
        assert survivor is not None
        contact_merge(source=contact, into=survivor)
        event_append(
            conversation=conversation_get_or_create(contact=survivor),
            event_type="webchat.identified",
            body=f"The host site verified a web chat visitor as {kind} {normalized.address}: "
            "their chat joined this thread",
            data={**said, "visitor": visitor_id},
        )
    return Identified(verified=True, merged=True)


def _is_someone(contact: Contact) -> bool:
    """The contact is a known customer: some identity beyond the web chat visitor ids."""
    return Identity.objects.filter(contact=contact, verified=True).exclude(kind=addresses.VISITOR).exists()


# --- nobody answers: an email for later ---------------------------------------------------------------
def webchat_email_leave(*, visitor_id: str, email: Any, ip: str = "") -> str:
    """The visitor leaves an email for a reply while nobody is there: a claim on their contact, not an identity.

    Replies go there while the visitor is away; the customer's answer comes back through the signed reply
    address into the same thread. Nothing is ever shown to the visitor because of the address.
    """
    normalized = addresses.normalize_email(email if isinstance(email, str) else "")
    if not normalized.valid:
        raise WebchatRefused("That doesn't look like an email address; check it and try again.")
    visitor_rate_take(visitor_id=visitor_id, ip=ip)
    with transaction.atomic():
        contact, _ = contact_resolve(kind=addresses.VISITOR, address=visitor_id)
        Contact.objects.filter(pk=contact.pk).update(
            attributes={**(contact.attributes or {}), EMAIL_CLAIM: normalized.address}
        )
        event_append(
            conversation=conversation_get_or_create(contact=contact),
            event_type="webchat.email_left",
            body=f"The visitor left {normalized.address} for an answer by email (not verified)",
            data={"address": normalized.address},
        )
    return normalized.address


# --- receipts -------------------------------------------------------------------------------------------
def webchat_receipts(*, visitor_id: str, ids: Any, read: bool) -> int:
    """The widget showed (or the visitor read) agents' messages: delivered or read, only in their own thread."""
    from channels_adapters.outbound import entry_status_apply

    if not isinstance(ids, list):
        return 0
    wanted = [i for i in ids[:100] if isinstance(i, int)]
    thread = visitor_thread_id(visitor_id=visitor_id)
    if thread is None or not wanted:
        return 0
    status = Entry.READ if read else Entry.DELIVERED
    changed = 0
    for entry_id in Entry.objects.filter(
        conversation_id=thread, pk__in=wanted, direction=Entry.OUTBOUND, channel=Entry.WEBCHAT
    ).values_list("pk", flat=True):
        if entry_status_apply(update=StatusUpdate("", status), entry_id=entry_id, provider=PROVIDER):
            changed += 1
    return changed


def webchat_thread_seen(*, conversation_id: int) -> int:
    """An agent opened the thread: the visitor's messages show as seen in the widget."""
    now = timezone.now().isoformat()
    changed = 0
    with transaction.atomic():
        for entry in (
            Entry.objects.select_for_update()
            .select_related("conversation")
            .filter(conversation_id=conversation_id, channel=Entry.WEBCHAT, direction=Entry.INBOUND)
            .exclude(data__has_key="seen_at")
            .order_by("-created_at")[:50]
        ):
            entry.data = {**entry.data, "seen_at": now}
            entry_touch(entry=entry, fields=["data"])
            changed += 1
    return changed


# --- an agent answers -----------------------------------------------------------------------------------
def webchat_message_send(
    *,
    conversation: Conversation,
    body: str,
    author: User | None,
    inbox: Inbox | None = None,
    files: Sequence[CheckedFile] = (),
) -> Entry:
    """An agent's reply on web chat: live in the visitor's widget; by email when they left and gave one.

    `files` reach the widget as links to signed, expiring URLs."""
    from channels_adapters.outbound import outbound_entry_queue

    text = body.strip()
    if not text and not files:
        raise ValidationError("The message is empty.")
    outbound_files_check(channel=Entry.WEBCHAT, files=files)
    if len(text) > settings.WEBCHAT_MAX_CHARS:
        raise ValidationError(
            f"The message is {len(text)} characters; web chat allows {settings.WEBCHAT_MAX_CHARS}."
        )
    visitors = list(
        Identity.objects.filter(contact_id=conversation.contact_id, kind=addresses.VISITOR, verified=True)
        .order_by("-last_seen_at", "-id")
        .values_list("address", flat=True)
    )
    if not visitors:
        raise ChannelRuleError("This customer has never written through web chat; answer on another channel.")
    if inbox is None or inbox.kind != Inbox.WEBCHAT:
        inbox = _last_webchat_inbox(conversation)
    if inbox is None or not inboxes_sendable_by(author).filter(pk=inbox.pk).exists():
        raise ValidationError("You cannot answer from this customer's web chat inbox.")
    claimed = str((conversation.contact.attributes or {}).get(EMAIL_CLAIM) or "")
    if claimed and not any(visitor_is_present(visitor_id=v) for v in visitors):
        from channels_adapters.email.services import email_message_send

        try:
            return email_message_send(
                conversation=conversation, body=text, author=author, recipient=claimed, files=files
            )
        except ValidationError as error:  # no email inbox to send from: it waits in the chat
            logger.info("Web chat reply kept in the chat, not emailed: %s", error.message)
    with transaction.atomic():
        entry = outbound_entry_queue(
            conversation=conversation,
            channel=Entry.WEBCHAT,
            inbox=inbox,
            author=author,
            provider=PROVIDER,
            to_address=visitors[0],
            body=text,
        )
        outbound_files_attach(entry=entry, files=files)
    return entry


def _last_webchat_inbox(conversation: Conversation) -> Inbox | None:
    entry = (
        Entry.objects.filter(conversation=conversation, channel=Entry.WEBCHAT, inbox__kind=Inbox.WEBCHAT)
        .select_related("inbox")
        .order_by("-created_at")
        .first()
    )
    return entry.inbox if entry is not None else None
