"""The issue's bad input for erasing: an erasure racing an export or a merge wins or waits and leaves nothing of
the customer; an agent who cannot see the customer gets 404; a family line's other customer keeps theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from contacts.models import Contact, Identity
from conversations.models import Conversation, Entry
from privacy.models import ContactErasure, ContactExport
from privacy.services import contact_erase, contact_export_create, contact_export_run
from tests.conftest import sms_in, twilio_fixture

PHONE = "+14155550142"


def _erase(user: Any, contact_id: int) -> Any:
    client = APIClient()
    client.force_login(user)
    return client.post(f"/api/v1/contacts/{contact_id}/erase/", {"reason": "asked"}, format="json")


@pytest.mark.django_db
def test_an_erasure_while_an_export_is_built_wins_and_no_zip_is_left(
    sms_thread: Conversation, manager_maria: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privacy import selectors

    job = contact_export_create(contact=sms_thread.contact, by=manager_maria)  # its task is not run here
    build = selectors.contact_export_zip

    def erased_meanwhile(**kwargs: Any) -> bytes:
        data = build(**kwargs)
        contact_erase(contact=sms_thread.contact, by=manager_maria, reason="asked")
        return data

    monkeypatch.setattr(selectors, "contact_export_zip", erased_meanwhile)

    assert contact_export_run(job_id=job.pk) is None

    assert not ContactExport.objects.exists()
    exports = Path(settings.MEDIA_ROOT) / "privacy-exports"
    assert not exports.exists() or not any(path.is_file() for path in exports.rglob("*"))


@pytest.mark.django_db
def test_an_erasure_that_waited_for_a_merge_erases_the_merged_customer(
    sms_thread: Conversation, manager_maria: Any, deliver_inbound: Any
) -> None:
    from conversations.customers import contact_merge

    stale = Contact.objects.get(pk=sms_thread.contact_id)  # what the erasure read before the merge committed
    other = sms_in(sms_thread.entries.first().inbox, "new phone", phone="+14155550143").conversation
    contact_merge(source=stale, into=other.contact, by=manager_maria)

    result = contact_erase(contact=stale, by=manager_maria, reason="asked")

    assert result.contact_id == other.contact_id
    assert not Identity.objects.filter(address__in=[PHONE, "+14155550143"]).exists()
    assert not Entry.objects.filter(body__contains="blue trail runner").exists()
    assert ContactErasure.objects.filter(contact_id=other.contact_id).exists()


@pytest.mark.django_db
def test_an_agent_gets_404_for_a_customer_they_cannot_see_and_403_for_one_they_can(
    sms_thread: Conversation, agent_alice: Any, agent_bob: Any
) -> None:
    assert _erase(agent_bob, sms_thread.contact_id).status_code == 404  # Sales: not their inbox
    assert _erase(agent_alice, sms_thread.contact_id).status_code == 403
    assert Identity.objects.filter(address=PHONE).exists()
    assert not ContactErasure.objects.exists()


@pytest.mark.django_db
def test_the_other_customer_on_a_family_line_keeps_their_number_and_messages(
    sms_thread: Conversation, inbox_support: Any, manager_maria: Any, deliver_inbound: Any
) -> None:
    son = sms_in(inbox_support, "It's Dana's son, on the family phone", phone="+14155550143").conversation
    Identity.objects.filter(contact=son.contact).update(address=PHONE, verified=False)  # the same number
    deliver_inbound(twilio_fixture("inbound_sms", Body="Dana again", MessageSid="SM" + "e" * 32))

    assert _erase(manager_maria, sms_thread.contact_id).status_code == 200

    assert Identity.objects.get(address=PHONE).contact_id == son.contact_id
    assert son.entries.filter(body="It's Dana's son, on the family phone").exists()
    assert not sms_thread.entries.filter(body="Dana again").exists()
