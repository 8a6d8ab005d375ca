"""Demo history for the performance page: a few resolved episodes with answers and ratings (load_demo)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.test.utils import override_settings

from contacts.services import contact_resolve
from conversations.models import Conversation, Entry, Episode, Inbox
from conversations.services import conversation_get_or_create, conversation_set_status, entry_append
from reports.models import SatisfactionSurvey
from reports.services import customer_message_recorded, episode_resolved

CUSTOMERS = [
    ("+1 415 555 0171", "Lee Chen", 5),
    ("+1 415 555 0172", "Sofia Rossi", 4),
    ("+1 415 555 0173", "Omar Haddad", 3),
    ("+1 415 555 0174", "Ines Moreau", 5),
    ("+1 415 555 0175", "Tom Becker", None),
    ("+1 415 555 0176", "Aiko Tanaka", 2),
]


def demo_performance_load(*, inboxes: list[Inbox], agents: list[User], now: datetime) -> None:
    for n, (phone, name, rating) in enumerate(CUSTOMERS):
        contact, _ = contact_resolve(kind="phone", address=phone, name=name)
        conversation = conversation_get_or_create(contact=contact)
        inbox, agent = inboxes[n % len(inboxes)], agents[n % len(agents)]
        opened = (now - timedelta(days=2 + 3 * n)).replace(hour=9 + (n * 2) % 8, minute=10 * n % 60)
        answered = opened + timedelta(minutes=4 + 13 * n)
        _sms(conversation, inbox, "Hi, where is my order?", opened)
        _sms(conversation, inbox, "Let me check: it left the warehouse this morning.", answered, agent)
        _sms(
            conversation,
            inbox,
            "Great, and can I return it if it doesn't fit?",
            answered + timedelta(minutes=6),
        )
        _sms(
            conversation, inbox, "Yes, within 30 days, free.", answered + timedelta(minutes=9 + 5 * n), agent
        )
        with override_settings(SATISFACTION_SURVEY_ENABLED=False):
            conversation_set_status(conversation=conversation, status=Conversation.RESOLVED, by=agent)
        episode = Episode.objects.filter(conversation=conversation).order_by("-opened_at").first()
        assert episode is not None
        # The demo's resolution happened back then too, an hour or two after the last answer.
        episode.resolved_at = answered + timedelta(hours=1 + n % 3)
        Episode.objects.filter(pk=episode.pk).update(resolved_at=episode.resolved_at)
        with override_settings(SATISFACTION_SURVEY_ENABLED=False):
            episode_resolved(episode=episode, by=agent)
        if rating is None:
            continue
        asked = episode.resolved_at + timedelta(minutes=1)
        SatisfactionSurvey.objects.create(
            episode=episode,
            conversation=conversation,
            asked_by=agent,
            channel=Entry.SMS,
            inbox=inbox,
            state=SatisfactionSurvey.ASKED,
            due_at=asked,
            asked_at=asked,
        )
        answer = entry_append(
            conversation=conversation,
            kind=Entry.MESSAGE,
            direction=Entry.INBOUND,
            channel=Entry.SMS,
            inbox=inbox,
            body=str(rating),
            created_at=asked + timedelta(minutes=7),
            awaits_reply=False,
            opens_episode=False,
        )
        customer_message_recorded(entry=answer, rating=rating)


def _sms(
    conversation: Conversation, inbox: Inbox, body: str, when: datetime, agent: User | None = None
) -> None:
    phone = conversation.contact.identities.first()
    assert phone is not None
    entry_append(
        conversation=conversation,
        kind=Entry.MESSAGE,
        direction=Entry.OUTBOUND if agent else Entry.INBOUND,
        channel=Entry.SMS,
        inbox=inbox,
        body=body,
        author=agent,
        created_at=when,
        delivery_status=Entry.DELIVERED if agent else "",
        from_address=inbox.address if agent else phone.address,
        to_address=phone.address if agent else inbox.address,
    )
