"""Every domain event the hub publishes: its name, when it fires, and its payload's JSON schema.

`docs/events.md` is written from this table (a test keeps the two the same), and the outgoing webhooks refuse
a subscription to a type that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ID: dict[str, Any] = {"type": "integer"}
MAYBE_ID: dict[str, Any] = {"type": ["integer", "null"]}
TEXT: dict[str, Any] = {"type": "string"}
MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
CHANNEL: dict[str, Any] = {"type": "string", "enum": ["sms", "whatsapp", "voice", "email", "webchat", ""]}


@dataclass(frozen=True)
class EventType:
    name: str
    when: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]

    @property
    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.name,
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
        }


def _type(name: str, when: str, /, **properties: dict[str, Any]) -> EventType:
    required = tuple(key for key, schema in properties.items() if "null" not in str(schema.get("type")))
    return EventType(name, when, properties, required)


_MESSAGE = {"entry": ID, "channel": CHANNEL, "inbox": MAYBE_ID, "body": TEXT, "created_at": TIME}

EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        _type(
            "message.received",
            "A customer's message (SMS, WhatsApp, email, web chat) is recorded in their thread. `automatic` is an "
            "auto-reply (out of office, a bounce notice); `rating` is set when the message answered the "
            "satisfaction question (1 to 5).",
            **_MESSAGE,
            from_address=TEXT,
            automatic={"type": "boolean"},
            rating={"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        ),
        _type(
            "call.received",
            "A customer's call reached the hub; its entry is in their thread (call.missed or voicemail.received "
            "may follow).",
            entry=ID,
            inbox=MAYBE_ID,
            from_address=TEXT,
            created_at=TIME,
        ),
        _type(
            "conversation.replied",
            "An agent's reply (a message or a call out) or the hub's own message is written in the thread, before "
            "the provider takes it (message.sent follows). `first_response` is the episode's first answer; "
            "`waited_s` how long the customer had waited for it.",
            entry=ID,
            kind={"type": "string", "enum": ["message", "call"]},
            channel=CHANNEL,
            author=MAYBE_ID,
            episode=MAYBE_ID,
            first_response={"type": "boolean"},
            waited_s={"type": ["number", "null"]},
        ),
        _type(
            "message.sent",
            "The provider accepted a message the hub sent (an agent's reply, a follow-up, a survey).",
            **_MESSAGE,
            to_address=TEXT,
            author=MAYBE_ID,
            provider_id=TEXT,
        ),
        _type(
            "message.delivery_changed",
            "A sent message's delivery status changed (delivered, read, undelivered, failed, unknown).",
            entry=ID,
            channel=CHANNEL,
            status=TEXT,
            error=MAYBE_TEXT,
        ),
        _type(
            "note.added",
            "An agent wrote a private note in a thread.",
            entry=ID,
            author=MAYBE_ID,
            body=TEXT,
        ),
        _type(
            "entry.redacted",
            "An agent redacted one message, note or call (a card number in a text): its text is now "
            '"redacted by <agent>", its attachments and raw payload are gone, and earlier events that carried '
            "its text now carry that instead.",
            entry=ID,
            kind={"type": "string", "enum": ["message", "note", "call"]},
            by=ID,
        ),
        _type(
            "call.missed",
            "An inbound call ended with nobody answering and no voicemail.",
            entry=ID,
            inbox=MAYBE_ID,
            from_address=TEXT,
        ),
        _type(
            "voicemail.received",
            "A caller left a voicemail (its transcript follows in the entry when Twilio sends it).",
            entry=ID,
            inbox=MAYBE_ID,
            from_address=TEXT,
            duration_s=MAYBE_ID,
        ),
        _type(
            "conversation.opened",
            "A customer spoke in a thread with no open episode: a new stretch of work begins.",
            episode=ID,
            entry=ID,
            team=MAYBE_ID,
        ),
        _type(
            "conversation.status_changed",
            "A thread's status changed (open, pending, snoozed, resolved), by an agent, a rule or the hub.",
            status=TEXT,
            previous_status=TEXT,
            by=MAYBE_ID,
            snoozed_until={"type": ["string", "null"], "format": "date-time"},
        ),
        _type(
            "conversation.assigned",
            "A thread was given to an agent or a team, or unassigned.",
            assignee=MAYBE_ID,
            previous_assignee=MAYBE_ID,
            team=MAYBE_ID,
            by=MAYBE_ID,
        ),
        _type(
            "conversation.priority_changed",
            "A thread's priority changed (urgent, high, normal, low), by an agent or a rule.",
            priority={"type": "string", "enum": ["urgent", "high", "normal", "low"]},
            previous={"type": "string", "enum": ["urgent", "high", "normal", "low"]},
            by=MAYBE_ID,
        ),
        _type(
            "conversation.resolved",
            "A thread was resolved: its episode ended (also sent as conversation.status_changed).",
            episode=MAYBE_ID,
            by=MAYBE_ID,
        ),
        _type(
            "contact.created",
            "The hub met a new customer (a new phone number, email address, web visitor, import or API call).",
            name=TEXT,
            identity_kind=MAYBE_TEXT,
        ),
        _type(
            "contact.updated",
            "A customer's name, labels, attributes or addresses changed.",
            fields={"type": "array", "items": TEXT},
            by=MAYBE_ID,
        ),
        _type(
            "contact.merged",
            "Two customers were found to be one person: the merged one now lives in this contact's thread.",
            merged=ID,
            by=MAYBE_ID,
        ),
        _type(
            "contact.unmerged",
            "A merge was undone: the restored customer has their own thread again.",
            restored=ID,
            by=MAYBE_ID,
        ),
        _type(
            "contact.erased",
            "A manager or admin erased the customer: their name, addresses, messages, files and raw payloads "
            "are gone; a stub with no identifiers keeps the reports' counts. Earlier events of theirs keep "
            "their ids and lose their payloads.",
            by=MAYBE_ID,
        ),
        _type(
            "stage.changed",
            "A customer moved along the lifecycle (lead, qualified, customer...), by hand, API or rule.",
            stage=TEXT,
            previous_stage=MAYBE_TEXT,
            by=MAYBE_ID,
            reason=TEXT,
        ),
        _type(
            "contact.owner_changed",
            "A customer has a new owner (handed round robin on reaching a stage, or set by a manager), or none.",
            owner=MAYBE_ID,
            previous_owner=MAYBE_ID,
            team=MAYBE_ID,
            by=MAYBE_ID,
            reason=TEXT,
        ),
        _type(
            "touchpoint.recorded",
            "Something the customer did outside the thread was recorded (a page view, a purchase, a demo).",
            touchpoint=ID,
            touchpoint_type=TEXT,
            occurred_at=TIME,
        ),
        _type(
            "leak.detected",
            "The funnel check found a lead leaking (left unanswered, stalled, converted and forgotten).",
            leak=TEXT,
            since={"type": ["string", "null"], "format": "date-time"},
        ),
        _type(
            "leak.plugged",
            "A leak found earlier is no longer one (someone answered, the lead moved on).",
            leak=TEXT,
        ),
        _type(
            "sequence.enrolled",
            "A customer was enrolled in a sequence (by an agent, a rule or the API); `source` says which.",
            sequence_id=ID,
            sequence_name=TEXT,
            enrollment=ID,
            source=TEXT,
            by=MAYBE_ID,
        ),
        _type(
            "sequence.step_sent",
            "A sequence took a step for a customer: a message queued (as the hub: never a first response), a "
            "task for the owner, or a wait begun.",
            sequence_id=ID,
            enrollment=ID,
            step=ID,
            step_type={"type": "string", "enum": ["message", "wait", "task"]},
            entry=MAYBE_ID,
            channel=CHANNEL,
        ),
        _type(
            "sequence.exited",
            "A customer left a sequence: `reason` is completed, replied, stage_changed, opted_out, merged, removed, "
            "step_failed or disabled.",
            sequence_id=ID,
            enrollment=ID,
            reason=TEXT,
            step=ID,
            by=MAYBE_ID,
        ),
        _type(
            "sla.warned",
            "A response target (first response, next response, resolution, owner's first touch) is close to "
            "running out: `level` assignee at the target's warning share, team_lead halfway from there to the end. "
            "`notified` are the agents told.",
            target=ID,
            metric={
                "type": "string",
                "enum": ["first_response", "next_response", "resolution", "owner_touch"],
            },
            level={"type": "string", "enum": ["assignee", "team_lead"]},
            due_at={"type": ["string", "null"], "format": "date-time"},
            notified={"type": "array", "items": ID},
        ),
        _type(
            "sla.breached",
            "A response target ran out before anyone answered (or resolved, or the new owner touched the "
            "thread); the thread is a leak until they do.",
            target=ID,
            metric={
                "type": "string",
                "enum": ["first_response", "next_response", "resolution", "owner_touch"],
            },
            due_at=TIME,
            assignee=MAYBE_ID,
        ),
        _type(
            "satisfaction.rated",
            "A customer answered the satisfaction question with a rating from 1 to 5.",
            rating={"type": "integer", "minimum": 1, "maximum": 5},
            episode=MAYBE_ID,
        ),
    )
}


def event_type_names() -> list[str]:
    return sorted(EVENT_TYPES)
