"""Finding a customer from the search box: by name, by a phone number typed any way (or its last digits), by
email; customers first, then messages; another team's customers stay hidden."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models.functions import Reverse
from django.test import Client

from contacts.models import Identity
from conversations.search import customers_find
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(inbox_support: Any) -> Any:
    thread = sms_in(inbox_support, "Where is my order?", phone="+14155550142").conversation
    thread.contact.name = "Dana Whitaker"
    thread.contact.save(update_fields=["name"])
    Identity.objects.create(contact=thread.contact, kind="email", address="dana@shoes.example", verified=True)
    return thread


@pytest.fixture
def priya(inbox_sales: Any) -> Any:
    thread = sms_in(inbox_sales, "Team discount?", phone="+12125550187").conversation
    thread.contact.name = "Priya Natarajan"
    thread.contact.save(update_fields=["name"])
    return thread


@pytest.mark.parametrize(
    "typed", ["(415) 555-0142", "+1 415 555 0142", "4155550142", "0142", "whitaker", "Dana W", "DANA@shoes"]
)
def test_an_agent_finds_a_customer_by_name_phone_in_any_format_or_email(
    dana: Any, priya: Any, agent_alice: Any, typed: str
) -> None:
    assert [hit.conversation for hit in customers_find(user=agent_alice, query=typed)] == [dana]


def test_another_teams_customer_is_not_found_but_a_manager_finds_everyone(
    dana: Any, priya: Any, agent_alice: Any, manager_maria: Any
) -> None:
    assert customers_find(user=agent_alice, query="Priya") == []
    assert customers_find(user=agent_alice, query="0187") == []
    assert [hit.conversation for hit in customers_find(user=manager_maria, query="0187")] == [priya]
    assert customers_find(user=manager_maria, query="555") == []  # three digits are not a phone: a name


def test_the_search_page_lists_customers_first_then_messages(dana: Any, alice_client: Client) -> None:
    page = alice_client.get("/inbox/search/", {"q": "0142"}).content.decode()
    assert 'id="search-customers"' in page and f'href="/inbox/{dana.pk}/"' in page
    assert "+14155550142" in page  # what matched
    words = alice_client.get("/inbox/search/", {"q": "order"}).content.decode()
    assert 'id="search-customers"' not in words and "Where is my" in words


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
def test_the_last_digits_and_any_part_of_a_name_are_found_through_an_index(dana: Any) -> None:
    suffix = (
        Identity.objects.annotate(reversed_address=Reverse("address"))
        .filter(kind="phone", reversed_address__startswith="2410")
        .values("pk")
    )
    from contacts.models import Contact

    # Enough customers for the planner to prefer the trigrams to reading every name through the sort index.
    others = Contact.objects.bulk_create(Contact(name=f"Customer {n}") for n in range(20000))
    Identity.objects.bulk_create(
        Identity(contact=contact, kind="phone", address=f"+1212{n:07d}", verified=True)
        for n, contact in enumerate(others)
    )
    name = Contact.objects.filter(name__icontains="whitaker").order_by().values("pk")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_identity")
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for query in (suffix, name):
            sql, params = query.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plans.append(" ".join(row[0] for row in cursor.fetchall()))
    assert "identity_address_reversed" in plans[0]
    assert "contact_name_trigrams" in plans[1]
