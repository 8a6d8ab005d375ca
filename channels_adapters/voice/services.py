"""Voice calls in the lifetime thread: one `call` entry per CallSid, kept up to date by every callback.

Each callback is stored as its own InboundEvent (its own key) and recorded here, in any order: whichever
arrives first makes the entry, the others add what they know, and the entry's outcome is worked out again
from everything known so far, so a transcription before the status callback ends the same way.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from channels_adapters.base import AdapterError
from channels_adapters.inbound import inbox_route
from channels_adapters.outbound import outbound_entry_queue, recipient_for, reply_default_inbox
from channels_adapters.registry import get_adapter
from channels_adapters.voice.adapter import (
    CALL_STATUS_RANK,
    FINAL_STATUSES,
    CallEvent,
    DialTarget,
    TwilioVoiceAdapter,
    callback_url,
    caller_withheld,
    recording_media_url,
)
from config.enqueue import enqueue_on_commit
from config.errors import ChannelRuleError, ValidationError
from contacts.addresses import normalize_phone
from contacts.models import Contact, Identity
from contacts.services import contact_created_publish, contact_resolve, contact_surviving
from conversations.hours import is_open
from conversations.models import AgentProfile, Attachment, Conversation, Entry, Inbox
from conversations.selectors import agent_profile, inbox_visible_to
from conversations.services import (
    conversation_get_or_create,
    conversation_set_status,
    conversation_set_waiting,
    entry_append,
    entry_touch,
)
from events.services import event_publish

logger = logging.getLogger("hub.voice")

KIND = "twilio_voice"
UNKNOWN_CALLER = "Unknown caller"
ANSWERED_DIAL = ("completed", "answered")


def _adapter() -> TwilioVoiceAdapter:
    adapter = get_adapter(KIND)
    assert isinstance(adapter, TwilioVoiceAdapter)
    return adapter


# --- answering a call (TwiML) -----------------------------------------------------------------------
def call_answer(*, payload: dict[str, Any], at: datetime | None = None) -> str:
    """What Twilio does with a new call: greet, ring the agents if the inbox is open, else take a message."""
    event = _adapter().parse_call_event(payload)
    inbox, _ = inbox_route(recipient=event.called, route_hint="")
    say = []
    contact = None if caller_withheld(event.caller) else _known_contact(event.caller)
    if contact is not None and contact.first_name:
        say.append(f"Hello {contact.first_name}.")
    say.append(inbox.voice_greeting or f"Thank you for calling {inbox.name}.")
    if not is_open(inbox, at):
        return _voicemail(inbox, event, say, closed=True)
    assigned = _assigned_target(contact)
    if assigned is not None:
        return _dial(inbox, event, say, [assigned], stage="assigned", tried=assigned.agent_id)
    targets = call_targets(inbox=inbox)
    if targets:
        return _dial(inbox, event, say, targets, stage="team")
    return _voicemail(inbox, event, say, closed=False)


def call_dial_next(*, payload: dict[str, Any], stage: str, tried: int | None) -> str:
    """The Dial action: answered ends the call; the assigned agent missed it, the team is tried; else voicemail."""
    event = _adapter().parse_call_event(payload)
    if stage == "recorded":
        return _adapter().twiml_hangup(say=["Thank you. Goodbye."])
    if event.dial_status in ANSWERED_DIAL:
        return _adapter().twiml_hangup()
    inbox, _ = inbox_route(recipient=event.called, route_hint="")
    if stage == "assigned" and is_open(inbox):
        targets = [t for t in call_targets(inbox=inbox) if t.agent_id != tried]
        if targets:
            return _dial(inbox, event, [], targets, stage="team")
    return _voicemail(inbox, event, [], closed=False)


def call_targets(*, inbox: Inbox) -> list[DialTarget]:
    """The available agents of the inbox's team who have a phone, rung all at once."""
    if inbox.team_id is None:
        return []
    profiles = (
        AgentProfile.objects.filter(
            teams=inbox.team_id, availability=AgentProfile.ONLINE, user__is_active=True
        )
        .exclude(phone="")
        .order_by("pk")
        .distinct()
    )
    return [DialTarget(number=p.phone, agent_id=p.user_id) for p in profiles[:10]]  # Dial takes 10 numbers


def _known_contact(caller: str) -> Contact | None:
    number = normalize_phone(caller)
    identity = (
        Identity.objects.select_related("contact")
        .filter(kind="phone", address=number.address, verified=True)
        .first()
    )
    return contact_surviving(identity.contact) if identity is not None else None


def _assigned_target(contact: Contact | None) -> DialTarget | None:
    if contact is None:
        return None
    conversation = Conversation.objects.filter(contact=contact).select_related("assignee__agent").first()
    assignee = conversation.assignee if conversation is not None else None
    profile = getattr(assignee, "agent", None) if assignee is not None and assignee.is_active else None
    if profile is None or not profile.phone or profile.availability != AgentProfile.ONLINE:
        return None
    return DialTarget(number=profile.phone, agent_id=profile.user_id)


def _context(event: CallEvent) -> dict[str, str]:
    return {"call": event.call_sid, "caller": event.caller, "called": event.called}


def _dial(
    inbox: Inbox,
    event: CallEvent,
    say: list[str],
    targets: list[DialTarget],
    *,
    stage: str,
    tried: int | None = None,
) -> str:
    return _adapter().twiml_dial(
        say=say,
        targets=targets,
        caller_id=inbox.address or event.called,
        timeout_s=inbox.ring_timeout_s,
        action=callback_url("dial", stage=stage, tried=tried, **_context(event)),
        call_sid=event.call_sid,
        caller=event.caller,
        called=event.called,
    )


def _voicemail(inbox: Inbox, event: CallEvent, say: list[str], *, closed: bool) -> str:
    prompt = inbox.voicemail_prompt or (
        ("We are closed right now." if closed else "Nobody can take your call right now.")
        + " Please leave a message after the beep, and press the pound key when you are done."
    )
    return _adapter().twiml_voicemail(
        say=[*say, prompt],
        max_length_s=inbox.voicemail_max_s,
        call_sid=event.call_sid,
        caller=event.caller,
        called=event.called,
    )


# --- recording callbacks into the entry -------------------------------------------------------------
def call_event_record(*, payload: dict[str, Any], received_at: datetime) -> Entry:
    """Record one stored voice callback on its call's entry. Safe in any order and any number of times."""
    event = _adapter().parse_call_event(payload)
    with transaction.atomic():
        _call_serialize(event.call_sid)
        entry = _call_entry(event, received_at)
        if entry.direction == Entry.OUTBOUND and entry.provider_id and entry.provider_id != event.call_sid:
            return entry  # a late callback about an earlier attempt of this call
        _call_apply(entry, event)
    return entry


def _call_serialize(call_sid: str) -> None:
    """One worker at a time per call, until its transaction ends.

    Callbacks of a call nobody has seen yet race to make its entry; without this, two workers can each
    hold the thread's row while waiting for the other's entry (a deadlock PostgreSQL breaks by failing one
    of them). SQLite has a single writer already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"hub.call:{call_sid}"])


def _locked(query: Any) -> Entry | None:
    found: Entry | None = (
        Entry.objects.select_for_update(of=("self",)).select_related("conversation").filter(query).first()
    )
    return found


def _call_entry(event: CallEvent, received_at: datetime) -> Entry:
    from django.db.models import Q

    if event.entry_id is not None:
        entry = _locked(Q(pk=event.entry_id, kind=Entry.CALL))
        if entry is not None:
            return entry
    entry = _locked(Q(provider="twilio", provider_id=event.call_sid, kind=Entry.CALL))
    if entry is not None:
        return entry
    if event.direction == Entry.OUTBOUND or not event.called:
        # Kept as a failed InboundEvent with its payload, for an admin to look at; Twilio was answered 200.
        raise AdapterError(
            f"A callback for call {event.call_sid}, which the hub never heard of and which says neither "
            "who called nor which number.",
            permanent=True,
        )
    try:
        with transaction.atomic():
            _call_entry_create(event, received_at)
    except IntegrityError:
        pass  # another worker made it a moment ago: the same call, one entry
    entry = _locked(Q(provider="twilio", provider_id=event.call_sid, kind=Entry.CALL))
    assert entry is not None
    return entry


def _call_entry_create(event: CallEvent, received_at: datetime) -> Entry:
    inbox, unrouted = inbox_route(recipient=event.called, route_hint="")
    # The label the thread's preview starts with; every callback works it out again.
    data: dict[str, Any] = {"call_status": "", "account_sid": event.account_id, "call_label": "Ringing…"}
    if caller_withheld(event.caller):
        # A withheld number is nobody's identity: each such call is its own unknown caller, never merged.
        contact = Contact.objects.create(name=UNKNOWN_CALLER)
        contact_created_publish(contact, identity_kind=None)
        data["withheld_caller"] = True
    else:
        contact, identity = contact_resolve(kind="phone", address=event.caller, name=event.caller_name)
        if not identity.is_valid:
            data["invalid_sender"] = True
    if unrouted:
        data["unrouted_to"] = event.called
    conversation = conversation_get_or_create(contact=contact)
    entry = entry_append(
        conversation=conversation,
        kind=Entry.CALL,
        direction=Entry.INBOUND,
        channel=Entry.VOICE,
        inbox=inbox,
        provider="twilio",
        provider_id=event.call_sid,
        data=data,
        from_address="" if data.get("withheld_caller") else event.caller,
        to_address=event.called,
        created_at=received_at,
        awaits_reply=False,  # a call becomes work only once it is missed or leaves a voicemail
    )
    return entry  # its call.received event cancels the follow-ups waiting on the customer's silence


def _call_apply(entry: Entry, event: CallEvent) -> None:
    data = dict(entry.data)
    before = data.get("call_outcome", "")
    fields = ["data"]
    if event.account_id and not data.get("account_sid"):
        data["account_sid"] = event.account_id
    if event.leg == "agent":
        if event.status in ("in-progress", "answered") and event.agent_id is not None:
            data.setdefault("answered_by", event.agent_id)
            data.setdefault("answered_by_name", _agent_name(event.agent_id))
            _status_forward(data, "in-progress")
    elif event.leg == "customer":
        if event.status in ("in-progress", "answered"):
            data["customer_answered"] = True
        elif event.status in FINAL_STATUSES and event.status != "completed":
            data.setdefault("customer_status", event.status)
    elif event.source == "dial":
        if data.get("dial_status") not in ANSWERED_DIAL:
            data["dial_status"] = event.dial_status
    elif event.source in ("incoming", "status"):
        _status_forward(data, event.status)
        if event.status in FINAL_STATUSES and event.duration_s:
            data["duration_s"] = event.duration_s
        if entry.direction == Entry.OUTBOUND and event.call_sid and not entry.provider_id:
            entry.provider_id = event.call_sid
            fields.append("provider_id")
    if event.source in ("recording", "transcription") and event.recording_sid:
        _recording_add(entry, data, event)
    if event.source == "transcription" and event.transcription_sid:
        data["transcription_sid"] = event.transcription_sid
        if event.transcription_status == "completed" and event.transcription_text.strip():
            data["transcription_status"] = "completed"
            entry.body = event.transcription_text.strip()
            fields.append("body")
        elif data.get("transcription_status") != "completed":
            data["transcription_status"] = "failed"
    data["call_outcome"] = call_outcome(data, direction=entry.direction)
    data["call_label"] = call_label(data, direction=entry.direction)
    entry.data = data
    entry_touch(entry=entry, fields=fields)
    if entry.direction == Entry.INBOUND and data["call_outcome"] != before:
        _call_published(entry, outcome=data["call_outcome"])
        _thread_work_update(entry, outcome=data["call_outcome"])


_CALL_EVENTS = {"missed": "call.missed", "voicemail": "voicemail.received"}


def _call_published(entry: Entry, *, outcome: str) -> None:
    """A missed call, a voicemail: published once each, as the call's outcome first becomes one (a recording
    that arrives after the final status turns a missed call into a voicemail: both are published)."""
    if outcome not in _CALL_EVENTS:
        return
    payload: dict[str, Any] = {"entry": entry.pk, "inbox": entry.inbox_id, "from_address": entry.from_address}
    if outcome == "voicemail":
        duration = entry.data.get("recording_duration_s") or entry.data.get("duration_s")
        payload["duration_s"] = int(duration) if str(duration or "").isdigit() else None
    event_publish(
        type=_CALL_EVENTS[outcome],
        conversation_id=entry.conversation_id,
        contact_id=entry.conversation.contact_id,
        payload=payload,
        thread_locked=True,  # entry_touch has just bumped the thread's version under its row lock
    )


def _status_forward(data: dict[str, Any], status: str) -> None:
    """A status moves a call forward only, so callbacks that arrive out of order never undo each other."""
    current = str(data.get("call_status", ""))
    if status in CALL_STATUS_RANK and (
        not current or CALL_STATUS_RANK[status] > CALL_STATUS_RANK.get(current, -1)
    ):
        data["call_status"] = status


def _recording_add(entry: Entry, data: dict[str, Any], event: CallEvent) -> None:
    if event.source == "recording" and event.recording_status in ("absent", "failed"):
        data.setdefault("recording_status", event.recording_status)
        return
    if event.recording_duration_s:
        data["recording_duration_s"] = event.recording_duration_s
    if data.get("recording_sid") == event.recording_sid and data.get("recording_status") == "completed":
        return
    data["recording_sid"] = event.recording_sid
    data["recording_status"] = "completed"
    if event.recording_url and not entry.attachments.exists():
        from channels_adapters import tasks

        attachment = Attachment.objects.create(
            entry=entry,
            position=0,
            declared_content_type="audio/mpeg",
            source_url=recording_media_url(event.recording_url)[:2000],
            filename="voicemail",
        )
        enqueue_on_commit(tasks.fetch_attachment, attachment.pk)


def call_outcome(data: dict[str, Any], *, direction: str) -> str:
    """Where the call stands, from everything known so far (so the order of the callbacks does not matter)."""
    status = str(data.get("call_status", ""))
    if direction == Entry.OUTBOUND:
        if data.get("customer_answered"):
            return "completed" if status in FINAL_STATUSES else "connected"
        if data.get("customer_status"):
            return "not_connected"
        if status in FINAL_STATUSES:
            return "completed" if status == "completed" else "not_connected"
        return status or "queued"
    if data.get("recording_status") == "completed":
        return "voicemail"
    if data.get("answered_by") or data.get("dial_status") in ANSWERED_DIAL:
        return "answered"
    if status in FINAL_STATUSES:
        return "missed"
    if data.get("dial_status") or data.get("recording_status"):
        return "no_answer"
    return status or "ringing"


def call_label(data: dict[str, Any], *, direction: str) -> str:
    """What an agent reads on the entry."""
    outcome = str(data.get("call_outcome", ""))
    duration = _duration(data.get("duration_s"))
    if direction == Entry.OUTBOUND:
        labels = {
            "queued": f"Calling your phone{' (' + str(data['agent_phone']) + ')' if data.get('agent_phone') else ''}…",
            "initiated": "Calling your phone…",
            "ringing": "Ringing your phone…",
            "in-progress": "You picked up; calling the customer…",
            "connected": "Connected to the customer",
            "completed": "Call completed" + (f" · {duration}" if duration else ""),
            "not_connected": "Not connected: "
            + _not_connected_reason(data.get("customer_status") or data.get("call_status")),
        }
        return labels.get(outcome, "Calling…")
    who = str(data.get("answered_by_name") or "an agent")
    status = str(data.get("call_status", ""))
    if outcome == "voicemail":
        length = _duration(data.get("recording_duration_s"))
        return "Voicemail" + (f" ({length})" if length else "")
    if outcome == "answered":
        if status in FINAL_STATUSES:
            return f"Answered by {who}" + (f" · {duration}" if duration else "")
        return f"In progress · answered by {who}"
    if outcome == "missed":
        return "Missed call" + (" (line busy)" if status == "busy" else "")
    if outcome == "no_answer":
        return "No answer · taking a voicemail…"
    if outcome == "in-progress":
        return "In progress"
    return "Ringing…"


def _not_connected_reason(status: Any) -> str:
    return {
        "busy": "the line was busy",
        "no-answer": "nobody answered",
        "failed": "the call failed",
        "canceled": "the call was canceled",
    }.get(str(status), "the call ended")


def _duration(seconds: Any) -> str:
    try:
        total = int(seconds or 0)
    except (TypeError, ValueError):
        return ""
    return f"{total // 60}:{total % 60:02d}" if total else ""


def _agent_name(user_id: int) -> str:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return "an agent"
    return str(user.get_full_name() or user.get_username())


def _thread_work_update(entry: Entry, *, outcome: str) -> None:
    """A missed call or a voicemail is work waiting for the business; an answered call is a response."""
    conversation = entry.conversation
    if conversation.blocked_at is not None:
        return  # a blocked caller is recorded, never waited on, and reopens nothing
    if outcome in ("missed", "voicemail"):
        if conversation.status != Conversation.OPEN:
            conversation_set_status(
                conversation=conversation,
                status=Conversation.OPEN,
                by=None,
                reason="a missed call" if outcome == "missed" else "a voicemail",
            )
        conversation_set_waiting(
            conversation=conversation, since=entry.created_at, preview=str(entry.data.get("call_label", ""))
        )
    elif outcome == "answered":
        conversation_set_waiting(conversation=conversation, since=None)


# --- click-to-call ------------------------------------------------------------------------------------
def call_place(*, conversation: Conversation, agent: User, inbox: Inbox | None = None) -> Entry:
    """Call back from the thread: Twilio rings the agent's own phone, then bridges to the customer."""

    profile = agent_profile(agent)
    phone = profile.phone if profile is not None else ""
    if not phone:
        raise ValidationError(
            "Add your phone number to your profile first: the hub rings your phone, then the customer."
        )
    inbox = inbox or reply_default_inbox(conversation)
    if inbox is None or inbox.kind != Inbox.PHONE or not inbox.address:
        raise ValidationError("Pick the business number to call from: no inbox with a number is known here.")
    if not inbox_visible_to(agent).filter(pk=inbox.pk).exists():
        raise ValidationError("You cannot call from that inbox.")
    identity = recipient_for(conversation)
    if identity is None:
        raise ChannelRuleError("This customer has no phone number that can be called.")
    with transaction.atomic():
        data = {"agent_phone": phone, "call_status": "queued", "call_outcome": "queued"}
        data["call_label"] = call_label(data, direction=Entry.OUTBOUND)
        return outbound_entry_queue(
            conversation=conversation,
            kind=Entry.CALL,
            channel=Entry.VOICE,
            inbox=inbox,
            author=agent,
            provider="twilio",
            to_address=identity.address,
            data=data,
        )


def call_bridge(*, entry_id: int | None) -> str:
    """TwiML for the agent's leg of a call we placed: connect them to the customer."""
    entry = (
        Entry.objects.filter(pk=entry_id, kind=Entry.CALL, direction=Entry.OUTBOUND)
        .select_related("conversation__contact")
        .first()
        if entry_id is not None
        else None
    )
    if entry is None or not entry.to_address:
        return _adapter().twiml_hangup(say=["This call is no longer available. Goodbye."])
    name = entry.conversation.contact.name
    return _adapter().twiml_bridge(
        say=[f"Connecting you to {name}." if name else "Connecting you to the customer."],
        customer=entry.to_address,
        caller_id=entry.from_address,
        entry_id=entry.pk,
    )
