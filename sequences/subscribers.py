"""What ends or moves an enrolment, inside the transaction of the change (see events.services): a customer who
writes back (or texts STOP) leaves, as does one who moves along the lifecycle (when the sequence says so); two
customers merged keep one enrolment per sequence."""

from __future__ import annotations

from conversations.models import Conversation
from events.services import Published, subscribe
from sequences.services import enrollments_exit_for, enrollments_merge


def subscribers_register() -> None:
    subscribe("message.received", customer_wrote)
    subscribe("stage.changed", stage_changed)
    subscribe("contact.merged", contact_merged)


def customer_wrote(event: Published) -> None:
    if "entry" not in event.rows or event.contact_id is None:
        return  # published with no change behind it (a replay)
    if event.payload.get("automatic"):
        return  # an out-of-office reply is nobody answering
    entry = event.rows["entry"]
    reason = "opted_out" if entry.data.get("keyword") == "stop" else "replied"
    enrollments_exit_for(contact_id=event.contact_id, conversation=event.rows["conversation"], reason=reason)


def stage_changed(event: Published) -> None:
    if event.contact_id is None or event.conversation_id is None:
        return
    conversation = Conversation.objects.filter(pk=event.conversation_id).first()
    if conversation is None:
        return
    if event.payload.get("reason") == "first message from the customer":
        # The lifecycle's subscriber to the same message runs first and makes a lead: what happened is a reply.
        enrollments_exit_for(contact_id=event.contact_id, conversation=conversation, reason="replied")
        return
    enrollments_exit_for(
        contact_id=event.contact_id,
        conversation=conversation,
        reason="stage_changed",
        only_stage_sensitive=True,
    )


def contact_merged(event: Published) -> None:
    rows = event.rows
    if "source" not in rows or event.conversation_id is None:
        return
    conversation = Conversation.objects.get(pk=event.conversation_id)
    enrollments_merge(source=rows["source"], into=rows["into"], conversation=conversation)
