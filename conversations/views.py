"""The agents' inbox: server-rendered pages, partials shared with the live updates, thin views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_adapters.outbound import entry_retry, message_send
from channels_adapters.sandbox import sandbox_records
from config.errors import HubError, NotFound
from contacts.services import contact_merge
from conversations.models import AgentProfile, Conversation, Entry, Inbox
from conversations.selectors import (
    COUNT_CAP,
    STATUSES,
    VIEWS,
    EntryCursor,
    ListCursor,
    agent_is_admin,
    agent_profile,
    agent_sees_everything,
    attachment_visible_to,
    contact_visible_to,
    conversation_list,
    conversation_view_counts,
    entry_page,
    entry_visible_to,
    inbox_visible_to,
    realtime_latest_seq,
)
from conversations.services import (
    agent_profile_update,
    conversation_assign,
    conversation_get_visible,
    conversation_set_status,
    note_add,
)

View = Callable[..., HttpResponseBase]


def agent_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (agent_sees_everything(request.user) or agent_profile(request.user) is not None):
            raise DjangoPermissionDenied("This account is not an agent of the hub.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


def _agent(request: HttpRequest) -> User:
    """The logged-in agent (agent_required has already turned everyone else away)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _json_error(error: HubError) -> JsonResponse:
    return JsonResponse({"error": error.message, "code": error.code}, status=error.status_code)


def _list_params(request: HttpRequest) -> dict[str, Any]:
    view = request.GET.get("view", "all")
    status = request.GET.get("status", "open")
    inbox = request.GET.get("inbox", "")
    return {
        "view": view if view in VIEWS else "all",
        "status": status if status in STATUSES else "open",
        "inbox_id": int(inbox) if inbox.isdigit() else None,
    }


@require_GET
@agent_required
def inbox_page(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    # Read the log position before rendering: anything after it reaches the page through the socket.
    seq = realtime_latest_seq()
    params = _list_params(request)
    conversations = conversation_list(user=request.user, **params)
    context: dict[str, Any] = {
        "seq": seq,
        "conversations": conversations,
        "params": params,
        "views": [
            (view, min(count, COUNT_CAP), count > COUNT_CAP)
            for view, count in conversation_view_counts(
                user=request.user, status=params["status"], inbox_id=params["inbox_id"]
            ).items()
        ],
        "statuses": STATUSES,
        "inboxes": inbox_visible_to(request.user).order_by("name"),
        "list_cursor": _list_cursor(conversations),
        "is_admin": agent_is_admin(request.user),
    }
    if conversation_id is not None:
        conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
        if conversation.pk != conversation_id:
            # A merged-away customer's thread lives on in the survivor's.
            return redirect(f"/inbox/{conversation.pk}/")
        entries = entry_page(conversation=conversation)
        context.update(_thread_context(request, conversation, entries))
    return render(request, "conversations/inbox.html", context)


@require_GET
@agent_required
def conversation_rows(request: HttpRequest) -> HttpResponse:
    """The next page of the list, after a cursor."""
    params = _list_params(request)
    after = _parse_list_cursor(request.GET.get("after", ""))
    conversations = conversation_list(user=request.user, after=after, **params)
    return render(
        request,
        "conversations/_conversation_rows.html",
        {"conversations": conversations, "list_cursor": _list_cursor(conversations), "params": params},
    )


@require_GET
@agent_required
def entries_older(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    before = _parse_entry_cursor(request.GET.get("before", ""))
    entries = entry_page(conversation=conversation, before=before)
    return render(
        request,
        "conversations/_entries_page.html",
        {"c": conversation, "entries": entries, "older_cursor": _entry_cursor(entries)},
    )


@require_POST
@agent_required
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    body = request.POST.get("body", "")
    try:
        if request.POST.get("kind") == "note":
            entry = note_add(conversation=conversation, author=_agent(request), body=body)
        else:
            inbox_id = request.POST.get("inbox", "")
            inbox = (
                inbox_visible_to(request.user).filter(pk=int(inbox_id)).first()
                if inbox_id.isdigit()
                else None
            )
            if inbox_id.isdigit() and inbox is None:
                raise NotFound("No such inbox.")
            entry = message_send(
                conversation=conversation,
                body=body,
                author=_agent(request),
                channel=request.POST.get("channel") or None,
                inbox=inbox,
                keep_cc=request.POST.get("drop_cc") != "1",
            )
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"entry": _entry_json(entry.pk)}, status=201)


@require_POST
@agent_required
def set_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    try:
        conversation = conversation_set_status(
            conversation=conversation, status=request.POST.get("status", ""), by=_agent(request)
        )
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"ok": True, "status": conversation.status})


@require_POST
@agent_required
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    value = request.POST.get("assignee", "")
    assignee = None
    if value == "me":
        assignee = _agent(request)
    elif value.isdigit():
        assignee = User.objects.filter(pk=int(value), is_active=True).first()
        if assignee is None:
            return _json_error(NotFound("No such agent."))
    try:
        conversation = conversation_assign(conversation=conversation, assignee=assignee, by=_agent(request))
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"ok": True, "assignee": conversation.assignee_id})


@require_POST
@agent_required
def call_back(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Click-to-call: Twilio rings the agent's phone, then the customer; an outbound call entry records it."""
    from channels_adapters.voice.services import call_place

    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    inbox_id = request.POST.get("inbox", "")
    inbox = inbox_visible_to(request.user).filter(pk=int(inbox_id)).first() if inbox_id.isdigit() else None
    if inbox_id.isdigit() and inbox is None:
        raise NotFound("No such inbox.")
    try:
        entry = call_place(conversation=conversation, agent=_agent(request), inbox=inbox)
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"entry": _entry_json(entry.pk)}, status=201)


@require_http_methods(["GET", "POST"])
@agent_required
def profile(request: HttpRequest) -> HttpResponse:
    """An agent's own phone number (click-to-call rings it, incoming calls ring it) and availability."""
    agent = agent_profile(request.user)
    error = ""
    saved = False
    if request.method == "POST" and agent is not None:
        try:
            agent = agent_profile_update(
                profile=agent,
                phone=request.POST.get("phone", ""),
                availability=request.POST.get("availability", ""),
            )
            saved = True
        except HubError as failure:
            error = failure.message
    return render(
        request,
        "conversations/profile.html",
        {
            "agent": agent,
            "availabilities": AgentProfile.AVAILABILITY_CHOICES,
            "error": error,
            "saved": saved,
            "is_admin": agent_is_admin(request.user),
        },
        status=400 if error else 200,
    )


@require_POST
@agent_required
def retry_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = entry_visible_to(request.user).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    try:
        entry = entry_retry(entry=entry, by=_agent(request))
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"entry": _entry_json(entry.pk)})


@require_POST
@agent_required
def identity_accept(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The agent adds the new address an email came from to the customer."""
    from channels_adapters.email.services import identity_suggestion_accept

    entry = entry_visible_to(request.user).select_related("conversation__contact").filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    try:
        identity = identity_suggestion_accept(entry=entry, by=_agent(request))
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"ok": True, "identity": identity.address})


@require_POST
@agent_required
def merge(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Merge another customer (the form's `contact`) into this thread's customer."""
    conversation = conversation_get_visible(user=_agent(request), conversation_id=conversation_id)
    other_id = request.POST.get("contact", "")
    other = contact_visible_to(request.user).filter(pk=int(other_id)).first() if other_id.isdigit() else None
    if other is None:
        return _json_error(NotFound("No such customer."))
    try:
        survivor = contact_merge(source=other, into=conversation.contact, by=_agent(request))
    except HubError as error:
        return _json_error(error)
    return JsonResponse({"ok": True, "redirect": f"/inbox/{survivor.conversation.pk}/"})


@require_GET
@agent_required
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    attachment = attachment_visible_to(request.user).filter(pk=attachment_id, state="stored").first()
    if attachment is None or not attachment.file:
        raise Http404("No such attachment.")
    inline = attachment.is_inline_image or attachment.is_inline_audio
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.filename or f"attachment-{attachment.pk}",
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@agent_required
def inbox_settings(request: HttpRequest) -> HttpResponse:
    if not agent_is_admin(request.user):
        raise DjangoPermissionDenied("Only admins configure inboxes.")
    from django.conf import settings

    base = settings.PUBLIC_BASE_URL
    inboxes = Inbox.objects.select_related("team", "twilio_account").order_by("is_default", "name")
    unrouted = (
        Entry.objects.filter(inbox__is_default=True, data__has_key="unrouted_to")
        .values("to_address")
        .annotate(messages=Count("id"))
        .order_by("-messages")[:50]
    )
    return render(
        request,
        "conversations/inbox_settings.html",
        {
            "inboxes": inboxes,
            "unrouted": unrouted,
            "urls": {
                "messaging": f"{base}/webhooks/twilio/messaging/",
                "status": f"{base}/webhooks/twilio/messaging/status/",
                "voice": f"{base}/webhooks/twilio/voice/",
                "voice_status": f"{base}/webhooks/twilio/voice/status/",
                "email_inbound": f"{base}/anymail/<esp>/inbound/",
                "email_tracking": f"{base}/anymail/<esp>/tracking/",
            },
            "public_base_url": base,
        },
    )


@require_GET
@agent_required
def sandbox(request: HttpRequest) -> HttpResponse:
    records = sandbox_records()
    references = [int(r["reference"]) for r in records if str(r.get("reference", "")).isdigit()]
    visible = set(entry_visible_to(request.user).filter(pk__in=references).values_list("pk", flat=True))
    shown = [r for r in records if str(r.get("reference", "")).isdigit() and int(r["reference"]) in visible]
    return render(request, "conversations/sandbox.html", {"records": shown})


# --- helpers ------------------------------------------------------------------------------------
def _thread_context(request: HttpRequest, conversation: Conversation, entries: list[Entry]) -> dict[str, Any]:
    from channels_adapters.outbound import reply_default_channel, reply_default_inbox

    send_inboxes = [
        inbox
        for inbox in inbox_visible_to(request.user)
        .filter(kind__in=(Inbox.PHONE, Inbox.EMAIL))
        .order_by("kind", "name")
        if inbox.address or inbox.messaging_service_sid
    ]
    default_inbox = conversation.last_inbound_inbox if conversation.last_inbound_channel == "email" else None
    default_inbox = default_inbox or reply_default_inbox(conversation)
    agents = User.objects.filter(is_active=True, agent__isnull=False).order_by("username")
    return {
        "c": conversation,
        "entries": entries,
        "older_cursor": _entry_cursor(entries),
        "channels": [("sms", "SMS"), ("whatsapp", "WhatsApp"), ("email", "Email")],
        "default_channel": reply_default_channel(conversation),
        "send_inboxes": send_inboxes,
        "default_inbox_id": default_inbox.pk if default_inbox else None,
        "agents": agents,
        "identities": list(conversation.contact.identities.all()),
    }


def _entry_json(entry_id: int) -> dict[str, Any]:
    entry = Entry.objects.select_related("author", "inbox").prefetch_related("attachments").get(pk=entry_id)
    return {
        "id": entry.pk,
        "version": entry.version,
        "html": render_to_string("conversations/_entry.html", {"entry": entry}),
    }


def _list_cursor(conversations: list[Conversation]) -> str:
    if len(conversations) < 50:
        return ""
    last = conversations[-1]
    return f"{last.last_activity_at.isoformat()}|{last.pk}"


def _entry_cursor(entries: list[Entry]) -> str:
    if len(entries) < 50:
        return ""
    first = entries[0]
    return f"{first.created_at.isoformat()}|{first.pk}"


def _parse_pair(value: str) -> tuple[datetime, int] | None:
    when, _, pk = value.rpartition("|")
    try:
        return datetime.fromisoformat(when), int(pk)
    except ValueError:
        return None


def _parse_list_cursor(value: str) -> ListCursor | None:
    pair = _parse_pair(value)
    return ListCursor(*pair) if pair else None


def _parse_entry_cursor(value: str) -> EntryCursor | None:
    pair = _parse_pair(value)
    return EntryCursor(*pair) if pair else None
