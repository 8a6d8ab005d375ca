from __future__ import annotations

import pytest

from contacts.models import Contact, Identity
from contacts.services import contact_resolve
from tests.conftest import run_concurrently


@pytest.mark.django_db
def test_the_same_person_in_four_formats_is_one_contact() -> None:
    first, _ = contact_resolve(kind="phone", address="(415) 555-0100")
    for raw in ["+1 415-555-0100", "+14155550100", "whatsapp:+14155550100"]:
        again, _ = contact_resolve(kind="phone", address=raw)
        assert again.pk == first.pk
    assert Contact.objects.count() == 1
    assert Identity.objects.get().address == "+14155550100"


@pytest.mark.django_db
def test_a_merged_contact_resolves_to_the_survivor() -> None:
    merged, _ = contact_resolve(kind="phone", address="+14155550100")
    survivor = Contact.objects.create(name="Survivor")
    merged.merged_into = survivor
    merged.save()
    resolved, _ = contact_resolve(kind="phone", address="+14155550100")
    assert resolved.pk == survivor.pk


@pytest.mark.django_db
def test_an_unverified_claim_never_resolves_a_contact() -> None:
    claimed = Contact.objects.create(name="Claimed")
    Identity.objects.create(contact=claimed, kind="email", address="ceo@example.com", verified=False)
    resolved, identity = contact_resolve(kind="email", address="CEO@example.com")
    assert resolved.pk != claimed.pk
    assert identity.verified


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_from_a_new_number_make_one_contact() -> None:
    results = run_concurrently(lambda: contact_resolve(kind="phone", address="+14155550177")[0].pk, times=6)
    assert len(set(results)) == 1
    assert Identity.objects.filter(address="+14155550177").count() == 1
