"""One customer across channels: a customer who texted and then emailed becomes one customer, one thread."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from channels_adapters.email.services import email_store
from contacts.models import Contact, Identity
from contacts.services import contact_resolve
from conversations.customers import contact_merge
from conversations.models import Conversation, Entry, Episode, Inbox, RealtimeEvent
from conversations.realtime import frames_build
from tests import factories
from tests.channels_adapters.email.conftest import eml
from tests.conftest import sms_in


@pytest.fixture
def texted_then_emailed(
    inbox_support, team_support, django_capture_on_commit_callbacks
) -> tuple[Conversation, Conversation]:
    factories.InboxFactory(
        name="Support email", kind=Inbox.EMAIL, address="support@shoes.example", team=team_support
    )
    texted = sms_in(inbox_support, "Is my order shipped?", phone="+14155550142").conversation
    with django_capture_on_commit_callbacks(execute=True):
        email_store(raw=eml("outlook"), source="test")
    emailed = Conversation.objects.get(contact__identities__address="dana.whitfield@contoso.example")
    return texted, emailed


@pytest.mark.django_db
def test_merge_makes_one_customer_with_one_thread_in_time_order(texted_then_emailed, agent_alice) -> None:
    texted, emailed = texted_then_emailed
    email_entry = Entry.objects.get(channel="email")
    assert email_entry.data["merge_suggestion"]["contact"] == texted.contact_id
    survivor = contact_merge(source=emailed.contact, into=texted.contact, by=agent_alice)
    assert survivor.pk == texted.contact_id
    assert sorted(Identity.objects.filter(contact=survivor).values_list("address", flat=True)) == [
        "+14155550142",
        "dana.whitfield@contoso.example",
    ]
    thread = list(Entry.objects.filter(conversation=texted).order_by("created_at", "id"))
    assert [e.channel for e in thread if e.kind == "message"] == ["sms", "email"]
    # Entries remember where they came from, so the merge can be undone.
    email_entry.refresh_from_db()
    assert email_entry.conversation_id == texted.pk and email_entry.origin_conversation_id == emailed.pk
    event = thread[-1]
    assert event.event_type == "contact.merged" and event.author == agent_alice
    assert event.body == (
        # the email and the event that made its sender a lead
        f"Alice merged Dana Whitfield (contact {emailed.contact_id}) into Dana Whitfield: 2 entries and 1 address moved"
    )
    assert event.data["merged_contact"] == emailed.contact_id
    merged = Contact.objects.get(pk=emailed.contact_id)
    assert merged.merged_into_id == survivor.pk
    # The old address resolves to the survivor.
    assert contact_resolve(kind="email", address="Dana.Whitfield@contoso.example")[0].pk == survivor.pk
    assert Episode.objects.filter(conversation=texted, resolved_at__isnull=True).count() == 1
    assert not Episode.objects.filter(conversation=emailed).exists()


@pytest.mark.django_db
def test_merging_twice_or_into_itself_is_refused(texted_then_emailed, agent_alice) -> None:
    from config.errors import ValidationError

    texted, emailed = texted_then_emailed
    with pytest.raises(ValidationError):
        contact_merge(source=texted.contact, into=texted.contact, by=agent_alice)
    contact_merge(source=emailed.contact, into=texted.contact, by=agent_alice)
    with pytest.raises(ValidationError, match="already merged"):
        contact_merge(source=emailed.contact, into=texted.contact, by=agent_alice)


@pytest.mark.django_db
def test_the_agent_ui_action_merges_and_sends_the_agent_to_the_merged_thread(
    texted_then_emailed, alice_client
) -> None:
    texted, emailed = texted_then_emailed
    page = alice_client.get(f"/inbox/{emailed.pk}/").content.decode()
    assert "Merge them into this customer" in page and "+14155550142" in page
    response = alice_client.post(f"/inbox/{emailed.pk}/merge/", {"contact": texted.contact_id})
    assert response.status_code == 200, response.content
    survivor_thread = Conversation.objects.get(contact=emailed.contact)
    assert response.json()["redirect"] == f"/inbox/{survivor_thread.pk}/"
    # The old thread's address sends the agent to the merged one; the list no longer shows it.
    old = alice_client.get(f"/inbox/{texted.pk}/")
    assert old.status_code == 302 and old["Location"] == f"/inbox/{emailed.pk}/"
    # A stale page's reply to the old thread goes into the merged one.
    response = alice_client.post(f"/inbox/{texted.pk}/reply/", {"body": "a note", "kind": "note"})
    assert response.status_code == 201
    assert Entry.objects.get(kind="note").conversation_id == emailed.pk
    listing = alice_client.get("/inbox/?status=all").content.decode()
    assert f'id="conv-{texted.pk}"' not in listing and f'id="conv-{emailed.pk}"' in listing


@pytest.mark.django_db
def test_the_api_merges_and_the_old_id_answers_with_the_survivor(texted_then_emailed, agent_alice) -> None:
    texted, emailed = texted_then_emailed
    api = APIClient()
    api.force_authenticate(agent_alice)
    response = api.post(
        f"/api/v1/contacts/{texted.contact_id}/merge/", {"contact": emailed.contact_id}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == texted.contact_id
    old = api.get(f"/api/v1/contacts/{emailed.contact_id}/")
    assert old.status_code == 200 and old.json()["id"] == texted.contact_id
    timeline = api.get(f"/api/v1/contacts/{emailed.contact_id}/timeline/").json()["results"]
    assert {e["channel"] for e in timeline if e["kind"] == "message"} == {"sms", "email"}


@pytest.mark.django_db
def test_agents_watching_the_merged_away_thread_are_told_where_it_went(
    texted_then_emailed, agent_alice
) -> None:
    texted, emailed = texted_then_emailed
    contact_merge(source=emailed.contact, into=texted.contact, by=agent_alice)
    event = RealtimeEvent.objects.get(type="conversation.merged")
    assert event.conversation_id == emailed.pk
    list_frame, thread_frames = frames_build(
        seq=event.pk, type=event.type, conversation_id=emailed.pk, entry_ids=[]
    )
    assert list_frame is not None and list_frame["into"] == texted.pk
    assert thread_frames[0]["into"] == texted.pk


@pytest.mark.django_db(transaction=True)
def test_two_agents_merging_the_same_pair_at_once_merge_it_once(inbox_support, agent_alice) -> None:
    from config.errors import ValidationError
    from tests.conftest import run_concurrently

    one = sms_in(inbox_support, "first number", phone="+14155550142").conversation.contact
    two = sms_in(inbox_support, "second number", phone="+14155550143").conversation.contact
    pairs = iter([(one, two), (two, one), (one, two), (two, one)])
    outcomes: list[str] = []

    def merge() -> None:
        source, into = next(pairs)
        try:
            contact_merge(
                source=Contact.objects.get(pk=source.pk), into=Contact.objects.get(pk=into.pk), by=agent_alice
            )
            outcomes.append("merged")
        except ValidationError:
            outcomes.append("refused")

    run_concurrently(merge, times=4)
    assert sorted(outcomes) == ["merged", "refused", "refused", "refused"]
    survivors = Contact.objects.filter(merged_into__isnull=True)
    assert survivors.count() == 1
    survivor = survivors.get()
    assert Identity.objects.filter(contact=survivor).count() == 2
    assert Entry.objects.filter(conversation__contact=survivor, kind="message").count() == 2
    assert Entry.objects.filter(event_type="contact.merged").count() == 1


@pytest.mark.django_db
def test_a_merge_can_be_undone(texted_then_emailed, agent_alice) -> None:
    from conversations.customers import contact_unmerge

    texted, emailed = texted_then_emailed
    survivor = contact_merge(source=emailed.contact, into=texted.contact, by=agent_alice)
    Entry.objects.create(
        conversation=texted,
        origin_conversation=texted,
        kind="note",
        direction="internal",
        body="after",
        created_at=texted.last_activity_at,
    )
    restored = contact_unmerge(merged=Contact.objects.get(pk=emailed.contact_id), by=agent_alice)
    assert restored.pk == emailed.contact_id and restored.merged_into_id is None
    assert list(Identity.objects.filter(contact=restored).values_list("address", flat=True)) == [
        "dana.whitfield@contoso.example"
    ]
    assert list(Identity.objects.filter(contact=survivor).values_list("address", flat=True)) == [
        "+14155550142"
    ]
    assert [e.channel for e in Entry.objects.filter(conversation=emailed, kind="message")] == ["email"]
    assert [e.channel for e in Entry.objects.filter(conversation=texted, kind="message")] == ["sms"]
    assert Entry.objects.filter(conversation=texted, body="after").exists()
    for thread in (texted, emailed):
        assert Entry.objects.filter(conversation=thread, event_type="contact.unmerged").count() == 1
    assert contact_resolve(kind="email", address="dana.whitfield@contoso.example")[0].pk == restored.pk


@pytest.mark.django_db(transaction=True)
def test_a_message_recorded_while_its_sender_is_being_merged_lands_in_the_surviving_thread(
    inbox_support, agent_alice
) -> None:
    """The race the web chat login met: a worker records a customer's message while an agent (or the
    widget's Hub.identify) merges that customer away. The message must land in the thread that survives,
    never in the tombstone."""
    import threading
    import time

    from django.db import connection, transaction
    from django.utils import timezone

    from channels_adapters.base import InboundMessage
    from channels_adapters.inbound import inbound_message_record

    anonymous = sms_in(inbox_support, "first, from a second phone", phone="+14155550143").conversation
    dana = sms_in(inbox_support, "Dana's usual phone", phone="+14155550142").conversation
    merged, release = threading.Event(), threading.Event()

    def merge() -> None:
        try:
            with transaction.atomic():
                contact_merge(
                    source=Contact.objects.get(pk=anonymous.contact_id), into=dana.contact, by=agent_alice
                )
                merged.set()  # moved, not yet committed: the worker below starts now
                release.wait(10)
                time.sleep(0.3)  # the worker is waiting on the merge's locks by now
        finally:
            connection.close()

    merger = threading.Thread(target=merge)
    merger.start()
    try:
        assert merged.wait(10)
        release.set()
        with transaction.atomic():
            entry = inbound_message_record(
                message=InboundMessage(
                    channel="sms",
                    sender_kind="phone",
                    sender="+14155550143",
                    recipient=inbox_support.address,
                    body="Where is my order?",
                    provider="twilio",
                    provider_id="SM-race",
                ),
                received_at=timezone.now(),
            )
    finally:
        release.set()
        merger.join()
    assert entry.conversation_id == dana.pk
    bodies = Entry.objects.filter(conversation=dana, kind="message").values_list("body", flat=True)
    assert set(bodies) == {"first, from a second phone", "Dana's usual phone", "Where is my order?"}
    assert not Entry.objects.filter(conversation=anonymous).exists()
