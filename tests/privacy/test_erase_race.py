"""A message from the customer being recorded while they are erased: it waits, and lands with a new contact."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from contacts.models import Contact, Identity
from contacts.services import contact_resolve

PHONE = "+14155550142"


@pytest.mark.django_db(transaction=True)
def test_an_address_resolved_while_its_customer_is_erased_names_a_new_contact() -> None:
    old, _ = contact_resolve(kind="phone", address=PHONE)
    locked = threading.Event()
    results: list[Any] = []

    def resolve() -> None:
        locked.wait(5)
        try:
            results.append(contact_resolve(kind="phone", address=PHONE)[0].pk)
        finally:
            connection.close()

    other = threading.Thread(target=resolve)
    other.start()
    with transaction.atomic():
        # What an erasure does first: lock the customer, delete their addresses.
        Contact.objects.select_for_update().get(pk=old.pk)
        Identity.objects.filter(contact=old).delete()
        locked.set()
        other.join(0.5)  # it finds the old identity, then waits for the lock
        assert other.is_alive()
    other.join(5)

    assert results and results[0] != old.pk
    assert Identity.objects.get(address=PHONE).contact_id == results[0]
