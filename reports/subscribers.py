"""The report facts a thread's events produce, written inside the transaction that makes them (see
events.services): when an episode opened and on which channel, how long the customer waited for each answer,
how long it took to resolve; and what a customer's message settles (follow-ups waiting on their silence, the
satisfaction question they answered).
"""

from __future__ import annotations

from conversations.answers import rating_reader_register
from conversations.models import Conversation
from events.services import Published, subscribe
from reports.services import (
    customer_message_recorded,
    episode_opened,
    episode_resolved,
    episode_responded,
    satisfaction_rating_pending,
)


def subscribers_register() -> None:
    rating_reader_register(rating_pending)
    subscribe("message.received", customer_spoke)
    subscribe("call.received", customer_spoke)
    subscribe("conversation.replied", replied)
    subscribe("conversation.resolved", resolved)


def customer_spoke(event: Published) -> None:
    if "entry" not in event.rows:
        return  # published with no change behind it (a replay): nothing to keep consistent
    entry, episode = event.rows["entry"], event.rows["episode"]
    if episode is not None and event.rows["summary"].first_inbound:
        episode_opened(episode=episode, entry=entry)
    if not event.payload.get("automatic"):
        customer_message_recorded(entry=entry, rating=event.payload.get("rating"))


def replied(event: Published) -> None:
    if "summary" not in event.rows:
        return
    episode, summary = event.rows["episode"], event.rows["summary"]
    if episode is not None and (summary.first_response or summary.waited_since is not None):
        episode_responded(
            episode=episode,
            entry=event.rows["entry"],
            waited_since=summary.waited_since,
            first=summary.first_response,
        )


def resolved(event: Published) -> None:
    episode = event.rows.get("episode")
    if episode is not None:
        episode_resolved(episode=episode, by=event.rows["by"])


def rating_pending(conversation: Conversation, body: str) -> int | None:
    return satisfaction_rating_pending(conversation=conversation, body=body)
