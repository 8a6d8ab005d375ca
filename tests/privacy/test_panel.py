"""The customer panel's privacy section: managers export and erase from it; agents see no such controls."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from contacts.models import Identity
from conversations.models import Conversation
from privacy.models import ContactExport


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_managers_get_the_privacy_controls_and_agents_do_not(
    sms_thread: Conversation, manager_maria: Any, agent_alice: Any
) -> None:
    managers = _client(manager_maria).get(f"/inbox/{sms_thread.pk}/").content.decode()
    agents = _client(agent_alice).get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert 'data-privacy="1"' in managers
    assert 'data-privacy="1"' not in agents
    assert f'action="/inbox/{sms_thread.pk}/erase/"' in managers
    assert "data-confirm=" in managers


@pytest.mark.django_db
def test_erasing_from_the_panel(
    sms_thread: Conversation, manager_maria: Any, agent_alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refused = _client(agent_alice).post(f"/inbox/{sms_thread.pk}/erase/", {"reason": "asked"})
    assert refused.status_code == 403
    assert Identity.objects.filter(contact=sms_thread.contact).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = _client(manager_maria).post(f"/inbox/{sms_thread.pk}/erase/", {"reason": "asked"})

    assert response.status_code == 200
    assert response.json()["redirect"] == f"/inbox/{sms_thread.pk}/"
    assert not Identity.objects.filter(contact=sms_thread.contact).exists()
    page = _client(manager_maria).get(f"/inbox/{sms_thread.pk}/")
    assert page.status_code == 200
    assert "blue trail runner" not in page.content.decode()


@pytest.mark.django_db
def test_exporting_from_the_panel_shows_the_progress_page(
    sms_thread: Conversation, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = _client(manager_maria)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/inbox/{sms_thread.pk}/export/")
    job = ContactExport.objects.get()
    assert response.json()["redirect"] == f"/inbox/contact-exports/{job.pk}/"
    page = client.get(response.json()["redirect"]).content.decode()
    assert f"/api/v1/contact-exports/{job.pk}/download/" in page
    assert "<progress" in page


@pytest.mark.django_db
def test_agents_watching_are_told_to_redraw_without_the_customer(
    sms_thread: Conversation, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from conversations.models import RealtimeEvent
    from conversations.realtime import frames_build

    with django_capture_on_commit_callbacks(execute=True):
        _client(manager_maria).post(f"/inbox/{sms_thread.pk}/erase/", {"reason": "asked"})

    (event,) = RealtimeEvent.objects.filter(conversation=sms_thread)
    assert (event.type, event.payload) == ("contact.erased", {})
    row, frames = frames_build(seq=event.pk, type=event.type, conversation_id=sms_thread.pk, entry_ids=())
    assert row is not None and "+14155550142" not in row["row"] and "blue trail" not in row["row"]
    assert frames[0]["type"] == "contact.erased"
