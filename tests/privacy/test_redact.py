"""Redacting one entry: an agent removes a card number from a message; its text, search index entry, raw
payload, attachments and the outbox's copies follow; open inboxes redraw it; it is audited."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from channels_adapters.models import InboundEvent
from conversations.models import Attachment, Conversation, Entry
from conversations.search import entry_search
from conversations.services import note_add
from events.catalog import EVENT_TYPES
from events.models import DomainEvent
from reports.models import AuditLog
from tests import factories
from tests.conftest import twilio_fixture

CARD = "4111 1111 1111 1234"


@pytest.fixture
def card_message(sms_thread: Conversation, deliver_inbound: Any) -> Entry:
    """Dana texts her card number with a photo of the card; the raw payload and the photo are stored."""
    deliver_inbound(
        twilio_fixture(
            "inbound_sms", Body=f"My card is {CARD}", MessageSid="SM" + "c" * 32, SmsSid="SM" + "c" * 32
        )
    )
    entry = Entry.objects.get(body__contains=CARD)
    photo = Attachment.objects.create(
        entry=entry, state="stored", content_type="image/png", filename="card.png"
    )
    photo.file.save("card.png", ContentFile(b"\x89PNG" + CARD.encode()))
    return entry


def _redact(user: Any, entry_id: int) -> Any:
    client = APIClient()
    client.force_login(user)
    return client.post(f"/api/v1/entries/{entry_id}/redact/")


def _listen(group: str) -> Any:
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, name)

    async def receive() -> list[dict[str, Any]]:
        heard = []
        while True:
            try:
                heard.append((await asyncio.wait_for(layer.receive(name), timeout=0.5))["frame"])
            except TimeoutError:
                return heard

    return lambda: async_to_sync(receive)()


@pytest.mark.django_db
def test_an_agent_redacts_a_card_number_and_every_copy_follows(
    card_message: Entry, agent_alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from conversations.realtime import group_conversation

    photo = Attachment.objects.get(entry=card_message)
    raw = InboundEvent.objects.get(entry=card_message)
    assert entry_search(user=agent_alice, query="4111").hits
    assert DomainEvent.objects.filter(payload__body__icontains=CARD).exists()
    listen = _listen(group_conversation(card_message.conversation_id))

    with django_capture_on_commit_callbacks(execute=True):
        response = _redact(agent_alice, card_message.pk)

    assert response.status_code == 200, response.content
    assert response.json()["body"] == "redacted by Alice"
    assert response.json()["attachments"] == []
    card_message.refresh_from_db()
    assert card_message.body == "redacted by Alice" and card_message.data["redacted"]["by"] == agent_alice.pk
    assert not entry_search(user=agent_alice, query="4111").hits
    assert entry_search(user=agent_alice, query="redacted").hits
    assert not Attachment.objects.filter(entry=card_message).exists()
    assert not default_storage.exists(photo.file.name)
    raw.refresh_from_db()
    assert raw.payload == {} and raw.idempotency_key  # a late retry of the webhook still finds its key
    assert not DomainEvent.objects.filter(payload__body__icontains=CARD).exists()
    assert CARD not in str(Conversation.objects.get(pk=card_message.conversation_id).last_preview)
    # Agents with the thread open redraw the entry.
    frames = [frame for frame in listen() if frame.get("type") == "entry.updated"]
    assert frames and "redacted by Alice" in str(frames[-1]) and CARD not in str(frames)
    event = DomainEvent.objects.get(type="entry.redacted")
    jsonschema.validate(event.payload, EVENT_TYPES["entry.redacted"].schema)
    assert event.payload == {"entry": card_message.pk, "kind": "message", "by": agent_alice.pk}
    audit = AuditLog.objects.get(action=AuditLog.REDACT)
    assert audit.actor == agent_alice and CARD not in str(audit.data) + audit.description
    # The page draws the redaction, not the control to do it again.
    page = APIClient()
    page.force_login(agent_alice)
    html = page.get(f"/inbox/{card_message.conversation_id}/").content.decode()
    assert "redacted by Alice" in html and CARD not in html
    assert f'action="/inbox/entries/{card_message.pk}/redact/"' not in html


@pytest.mark.django_db
def test_redacting_twice_changes_nothing_and_says_so(card_message: Entry, agent_alice: Any) -> None:
    assert _redact(agent_alice, card_message.pk).status_code == 200
    again = _redact(agent_alice, card_message.pk)
    assert again.status_code == 200 and again["X-Already-Redacted"] == "true"
    assert DomainEvent.objects.filter(type="entry.redacted").count() == 1
    assert AuditLog.objects.filter(action=AuditLog.REDACT).count() == 1


@pytest.mark.django_db
def test_an_agent_who_cannot_see_the_thread_gets_404_and_nothing_changes(
    card_message: Entry, agent_bob: Any
) -> None:
    assert _redact(agent_bob, card_message.pk).status_code == 404
    card_message.refresh_from_db()
    assert CARD in card_message.body
    assert Attachment.objects.filter(entry=card_message).exists()


@pytest.mark.django_db
def test_the_hubs_own_event_lines_are_not_redacted(card_message: Entry, agent_alice: Any) -> None:
    event = Entry.objects.filter(conversation=card_message.conversation, kind="event").first()
    assert event is not None  # the first message made Dana a lead
    response = _redact(agent_alice, event.pk)
    assert response.status_code == 400 and "message, a note or a call" in response.json()["detail"]
    event.refresh_from_db()
    assert not event.data.get("redacted")


@pytest.mark.django_db
def test_a_redacted_mention_no_longer_quotes_the_note(
    sms_thread: Conversation, agent_alice: Any, team_support: Any
) -> None:
    from conversations.models import Notification, RealtimeEvent
    from conversations.notifications import notification_text

    factories.agent("agent_carl", teams=(team_support,))
    note = note_add(conversation=sms_thread, author=agent_alice, body=f"@agent_carl her card is {CARD}")
    assert RealtimeEvent.objects.filter(payload__text__icontains=CARD).exists()

    assert _redact(agent_alice, note.pk).status_code == 200

    assert not RealtimeEvent.objects.filter(payload__text__icontains=CARD).exists()
    assert CARD not in notification_text(Notification.objects.get())


@pytest.mark.django_db
def test_the_thread_offers_redact_on_each_message(card_message: Entry, agent_alice: Any) -> None:
    page = APIClient()
    page.force_login(agent_alice)
    html = page.get(f"/inbox/{card_message.conversation_id}/").content.decode()
    assert f'action="/inbox/entries/{card_message.pk}/redact/"' in html
    answer = page.post(f"/inbox/entries/{card_message.pk}/redact/")
    assert answer.status_code == 200
    assert "redacted by Alice" in answer.json()["entry"]["html"]
