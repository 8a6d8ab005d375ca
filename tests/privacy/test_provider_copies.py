"""After an erasure the hub asks Twilio (the fake API, through the SDK) to delete its copies, retries what
Twilio cannot delete yet, redacts what it refuses to delete, and reports it."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Entry
from privacy.models import ContactErasure
from privacy.services import erasure_provider_delete
from tests.conftest import twilio_fixture

INBOUND_SID = "SM1f0e8ae6ade43cb3c0ce4525424e404f"


def _erase(user: Any, conversation: Conversation, capture: Any) -> ContactErasure:
    client = APIClient()
    client.force_login(user)
    with capture(execute=True):
        response = client.post(
            f"/api/v1/contacts/{conversation.contact_id}/erase/", {"reason": "asked"}, format="json"
        )
    assert response.status_code == 200, response.content
    return ContactErasure.objects.get(contact_id=conversation.contact_id)


@pytest.mark.django_db
def test_twilio_deletes_its_copies_and_the_ids_go_afterwards(
    fake_twilio: Any, sms_thread: Conversation, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    call = Entry.objects.create(
        conversation=sms_thread,
        kind="call",
        direction="inbound",
        channel="voice",
        provider="twilio",
        provider_id="CA" + "1" * 32,
        data={"recording_sid": "RE" + "2" * 32, "call_outcome": "voicemail"},
        inbox=sms_thread.entries.get(kind="message").inbox,
        created_at=sms_thread.last_activity_at,
    )

    erasure = _erase(manager_maria, sms_thread, django_capture_on_commit_callbacks)

    assert set(fake_twilio.state.deleted) == {INBOUND_SID, "CA" + "1" * 32, "RE" + "2" * 32}
    erasure.refresh_from_db()
    assert (erasure.provider_pending, erasure.provider_failed) == ([], [])
    assert erasure.provider_done_at is not None
    assert not Entry.objects.filter(conversation=sms_thread).exclude(provider_id="").exists()
    call.refresh_from_db()
    assert call.data == {"call_outcome": "voicemail"}


@pytest.mark.django_db
def test_a_queued_message_is_asked_again_and_a_refused_one_is_redacted_and_reported(
    fake_twilio: Any,
    sms_thread: Conversation,
    deliver_inbound: Any,
    manager_maria: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    refused = "SM" + "e" * 32
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid=refused, SmsSid=refused))
    fake_twilio.state.delete_failures[INBOUND_SID] = (409, 20009, "Cannot delete a message in progress")
    fake_twilio.state.delete_failures[refused] = (403, 20003, "Permission denied")
    # The task's retries are not run inline: the service's answer says whether it must be asked again.
    erasure = _erase_without_task(manager_maria, sms_thread, django_capture_on_commit_callbacks)

    assert erasure_provider_delete(erasure_id=erasure.pk) is False
    erasure.refresh_from_db()
    assert [item["sid"] for item in erasure.provider_pending] == [INBOUND_SID]
    assert [(item["sid"], item.get("redacted")) for item in erasure.provider_failed] == [(refused, "yes")]
    assert refused in fake_twilio.state.redacted

    del fake_twilio.state.delete_failures[INBOUND_SID]  # delivered meanwhile
    assert erasure_provider_delete(erasure_id=erasure.pk) is True
    erasure.refresh_from_db()
    assert erasure.provider_pending == [] and erasure.provider_done_at is not None
    assert INBOUND_SID in fake_twilio.state.deleted
    assert len(erasure.provider_failed) == 1  # still reported


def _erase_without_task(user: Any, conversation: Conversation, capture: Any) -> ContactErasure:
    from unittest import mock

    with mock.patch("privacy.tasks.delete_provider_copies"):
        return _erase(user, conversation, capture)
