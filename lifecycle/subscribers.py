"""What the lifecycle does, inside the transaction, when something happens to a customer (see events.services).

A customer who writes or calls has made their first contact, and a message makes a lead; two customers merged
are one lifecycle, counted once, and a merge undone gives each their own back.
"""

from __future__ import annotations

from events.services import Published, subscribe
from lifecycle import scores, targets
from lifecycle.services import stage_merge, stage_on_customer_spoke, stage_unmerge


def subscribers_register() -> None:
    subscribe("message.received", customer_spoke)
    subscribe("call.received", customer_spoke)
    subscribe("contact.merged", contact_merged)
    subscribe("contact.unmerged", contact_unmerged)
    # The lead score folds what the customer does as it happens (after the stage's own subscribers, so a
    # first message has made its first-contact facts): one contact's rows, in the same transaction.
    subscribe("message.received", score_customer_spoke)
    subscribe("call.received", score_customer_spoke)
    subscribe("touchpoint.recorded", score_touchpoint)
    subscribe("stage.changed", score_stage)
    # The response targets start, stop and pause with the thread (lifecycle/targets.py).
    subscribe("message.received", targets_customer_spoke)
    subscribe("call.received", targets_customer_spoke)
    subscribe("conversation.replied", targets_replied)
    subscribe("conversation.status_changed", targets_status)


def customer_spoke(event: Published) -> None:
    if "entry" not in event.rows:
        return  # published with no change behind it (a replay): nothing to keep consistent
    stage_on_customer_spoke(conversation=event.rows["conversation"], entry=event.rows["entry"])


def contact_merged(event: Published) -> None:
    rows = event.rows
    if "undo" not in rows:
        return
    rows["undo"]["lifecycle"] = stage_merge(
        source=rows["source"], into=rows["into"], by=rows["by"], at=event.at
    )
    rows["undo"]["lead_score"] = scores.lead_score_merge(source=rows["source"], into=rows["into"])


def contact_unmerged(event: Published) -> None:
    memo = event.rows.get("undo")
    if memo is None:
        return  # no merge on record: nothing of the lifecycle's to give back
    stage_unmerge(source=event.rows["source"], into=event.rows["into"], undo=memo.get("lifecycle") or {})
    scores.lead_score_unmerge(
        source=event.rows["source"], into=event.rows["into"], undo=memo.get("lead_score") or {}
    )


def score_customer_spoke(event: Published) -> None:
    entry = event.rows.get("entry")
    if entry is None or event.contact_id is None or event.conversation_id is None:
        return
    if event.payload.get("automatic"):
        return  # an out-of-office answer is no sign of interest
    scores.lead_score_on_customer_spoke(
        contact_id=event.contact_id, conversation_id=event.conversation_id, entry=entry
    )


def score_touchpoint(event: Published) -> None:
    touchpoint = event.rows.get("touchpoint")
    if touchpoint is None or event.contact_id is None:
        return
    scores.lead_score_on_touchpoint(contact_id=event.contact_id, touchpoint=touchpoint)


def score_stage(event: Published) -> None:
    if "contact" not in event.rows or event.contact_id is None:
        return
    scores.lead_score_on_stage(
        contact_id=event.contact_id, stage_key=str(event.payload["stage"]), at=event.at
    )


def targets_customer_spoke(event: Published) -> None:
    conversation, episode = event.rows.get("conversation"), event.rows.get("episode")
    if conversation is None or event.payload.get("automatic"):
        return
    answered = episode is not None and episode.first_response_at is not None
    targets.targets_on_customer_spoke(conversation=conversation, episode_answered=answered, at=event.at)


def targets_replied(event: Published) -> None:
    conversation, entry = event.rows.get("conversation"), event.rows.get("entry")
    if conversation is None or entry is None:
        return
    targets.targets_on_reply(conversation=conversation, author=entry.author, at=event.at)


def targets_status(event: Published) -> None:
    conversation = event.rows.get("conversation")
    if conversation is None:
        return
    targets.targets_on_status(conversation=conversation, status=str(event.payload["status"]), at=event.at)
