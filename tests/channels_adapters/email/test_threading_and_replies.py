"""The agent's email reply arrives threaded in the customer's client; replies to it find the thread again."""

from __future__ import annotations

import email
from email import policy
from typing import Any

import pytest

from channels_adapters.email.tokens import reply_address_verify
from contacts.models import Identity
from conversations.models import Entry
from tests.channels_adapters.email.conftest import SUPPORT_EMAIL, eml


def reply(client: Any, conversation_id: int, body: str, capture: Any, **extra: str) -> Any:
    with capture(execute=True):
        response = client.post(
            f"/inbox/{conversation_id}/reply/", {"body": body, "channel": "email", **extra}
        )
    assert response.status_code == 201, response.content
    return Entry.objects.get(pk=response.json()["entry"]["id"])


@pytest.mark.django_db
def test_the_reply_arrives_threaded_with_text_html_reply_to_and_cc(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    customer = deliver_email(eml("gmail"))
    sent = reply(
        alice_client,
        customer.conversation_id,
        "We got it, thanks!\nSee you.",
        django_capture_on_commit_callbacks,
    )
    sent.refresh_from_db()
    assert sent.delivery_status == "sent" and sent.channel == "email"
    [envelope] = smtp_server.envelopes
    assert sorted(envelope.rcpt_tos) == ["pat.carter@gmail.example", "sam.carter@gmail.example"]
    arrived = email.message_from_bytes(envelope.original_content, policy=policy.default)
    ours = sent.email.message_id
    assert arrived["Message-ID"] == f"<{ours}>"
    assert arrived["In-Reply-To"] == "<CAFb3x=Ym9vdGhzLWFyZS1ncmVhdA9+Qw@mail.gmail.com>"
    assert (
        arrived["References"]
        == "<hub.1.aaaa@shoes.example> <CAFb3x=Ym9vdGhzLWFyZS1ncmVhdA9+Qw@mail.gmail.com>"
    )
    assert arrived["Subject"] == "Re: Your return label"
    assert arrived["To"] == "sam.carter@gmail.example" and arrived["Cc"] == "pat.carter@gmail.example"
    assert arrived["From"] == f"Support email <{SUPPORT_EMAIL}>"
    assert reply_address_verify(str(arrived["Reply-To"])) == sent.pk
    text = arrived.get_body(preferencelist=("plain",)).get_content()
    html = arrived.get_body(preferencelist=("html",)).get_content()
    assert "We got it, thanks!" in text and "<p>We got it, thanks!<br>" in html
    assert sent.provider_id == ours


@pytest.mark.django_db
def test_re_prefixes_stay_sane(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    customer = deliver_email(eml("outlook"))  # "RE: Order #10443 ..."
    reply(alice_client, customer.conversation_id, "Swapping them now.", django_capture_on_commit_callbacks)
    arrived = email.message_from_bytes(smtp_server.envelopes[0].original_content, policy=policy.default)
    assert arrived["Subject"] == "Re: Order #10443 - wrong size delivered"


@pytest.mark.django_db
def test_an_answer_from_another_address_to_the_reply_address_lands_with_the_customer_and_is_offered(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    customer = deliver_email(eml("outlook"))
    sent = reply(alice_client, customer.conversation_id, "Which size?", django_capture_on_commit_callbacks)
    reply_to = str(email.message_from_bytes(smtp_server.envelopes[0].original_content)["Reply-To"])
    colleague = (
        b"From: Jo Colleague <jo@contoso.example>\r\nTo: " + reply_to.encode() + b"\r\n"
        b"Subject: Re: Order #10443\r\nMessage-ID: <colleague-1@contoso.example>\r\n\r\nSize 9 please.\r\n"
    )
    answer = deliver_email(colleague)
    assert answer.conversation_id == customer.conversation_id
    assert answer.data["answers_entry"] == sent.pk
    assert answer.data["identity_suggestion"] == "jo@contoso.example"
    # Offered, never attached silently.
    assert not Identity.objects.filter(address="jo@contoso.example").exists()
    page = alice_client.get(f"/inbox/{customer.conversation_id}/").content.decode()
    assert "Add it to this customer" in page
    response = alice_client.post(f"/inbox/entries/{answer.pk}/identity/")
    assert response.status_code == 200, response.content
    identity = Identity.objects.get(address="jo@contoso.example")
    assert identity.contact_id == customer.conversation.contact_id
    assert Entry.objects.filter(
        event_type="contact.identity_added", conversation=customer.conversation
    ).exists()
    answer.refresh_from_db()
    assert "identity_suggestion" not in answer.data and answer.data["identity_added"] == "jo@contoso.example"
    assert (
        "Add it to this customer"
        not in alice_client.get(f"/inbox/{customer.conversation_id}/").content.decode()
    )


@pytest.mark.django_db
def test_outlook_style_references_find_the_thread_without_the_reply_address(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    customer = deliver_email(eml("gmail"))
    sent = reply(
        alice_client, customer.conversation_id, "Label attached.", django_capture_on_commit_callbacks
    )
    forwarded = (
        b"From: Sam at work <sam@work.example>\r\nTo: support@shoes.example\r\nSubject: AW: Label\r\n"
        b"Message-ID: <outlook-2@work.example>\r\nIn-Reply-To: <something-else@work.example>\r\n"
        b"References: <unrelated@x.example> <" + sent.email.message_id.encode() + b">\r\n\r\nThanks\r\n"
    )
    answer = deliver_email(forwarded)
    assert answer.conversation_id == customer.conversation_id
    assert answer.data["exchange"] == customer.data["exchange"] == sent.data["exchange"]


@pytest.mark.django_db
def test_a_bounce_marks_the_reply_failed_and_does_not_reopen(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    from conversations.services import conversation_set_status

    customer = deliver_email(eml("gmail"))
    sent = reply(alice_client, customer.conversation_id, "Here you go.", django_capture_on_commit_callbacks)
    conversation_set_status(conversation=customer.conversation, status="resolved", by=None)
    bounce = deliver_email(eml("dsn", ORIGINAL_MESSAGE_ID=sent.email.message_id))
    sent.refresh_from_db()
    assert sent.delivery_status == "failed"
    assert "5.1.1" in sent.status_reason and "User unknown" in sent.status_reason
    assert bounce.conversation_id == customer.conversation_id and bounce.data["auto"] == "bounce"
    customer.conversation.refresh_from_db()
    assert customer.conversation.status == "resolved"


@pytest.mark.django_db
def test_without_smtp_settings_the_reply_goes_to_the_sandbox(
    deliver_email, inbox_email, alice_client, django_capture_on_commit_callbacks, settings
) -> None:
    from channels_adapters.sandbox import sandbox_records

    settings.EMAIL_SANDBOX = True
    customer = deliver_email(eml("gmail"))
    sent = reply(alice_client, customer.conversation_id, "Sandboxed.", django_capture_on_commit_callbacks)
    sent.refresh_from_db()
    assert sent.delivery_status == "sent" and sent.data["sandbox"] is True
    [record] = sandbox_records()
    assert record["channel"] == "email" and record["headers"]["In-Reply-To"].startswith("<CAFb3x")


@pytest.mark.django_db
def test_an_smtp_server_that_refuses_the_recipient_fails_the_entry_for_good(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    async def refuse(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 No such user"

    smtp_server.handle_RCPT = refuse  # type: ignore[attr-defined]
    customer = deliver_email(eml("outlook"))
    sent = reply(alice_client, customer.conversation_id, "Hello?", django_capture_on_commit_callbacks)
    sent.refresh_from_db()
    assert sent.delivery_status == "failed" and "refused" in sent.status_reason


@pytest.mark.django_db
def test_the_agent_may_leave_the_cc_out(
    deliver_email, inbox_email, alice_client, smtp_server, django_capture_on_commit_callbacks
) -> None:
    customer = deliver_email(eml("gmail"))
    reply(
        alice_client, customer.conversation_id, "Just you.", django_capture_on_commit_callbacks, drop_cc="1"
    )
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["sam.carter@gmail.example"]
    assert email.message_from_bytes(envelope.original_content)["Cc"] is None


@pytest.mark.django_db
def test_the_api_sends_an_email_reply_on_the_customers_channel(
    deliver_email, inbox_email, agent_alice, smtp_server, django_capture_on_commit_callbacks
) -> None:
    from rest_framework.test import APIClient

    customer = deliver_email(eml("outlook"))
    api = APIClient()
    api.force_authenticate(agent_alice)
    contact_id = customer.conversation.contact_id
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/contacts/{contact_id}/messages/", {"body": "On its way"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["channel"], response.json()["subject"]) == (
        "email",
        "Re: Order #10443 - wrong size delivered",
    )
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["dana.whitfield@contoso.example"]
