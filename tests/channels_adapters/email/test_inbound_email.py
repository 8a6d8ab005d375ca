"""Inbound email of real-world shapes: into the sender's lifetime thread, once, readable and safe."""

from __future__ import annotations

import base64

import pytest

from channels_adapters.models import EmailMessage, InboundEvent
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry
from conversations.services import conversation_set_status
from tests.channels_adapters.email.conftest import eml
from tests.conftest import sms_in
from tests.images import png


@pytest.mark.django_db
def test_an_outlook_email_lands_in_the_senders_thread_with_its_subject(deliver_email, inbox_email) -> None:
    entry = deliver_email(eml("outlook"))
    assert (entry.kind, entry.channel, entry.direction) == ("message", "email", "inbound")
    assert entry.inbox == inbox_email
    assert entry.subject == "RE: Order #10443 - wrong size delivered"
    assert entry.body.startswith("Hi,\n\nThe trail runners arrived in size 8 instead of 9.")
    identity = Identity.objects.get(kind="email")
    # Case-insensitive address, display name kept.
    assert identity.address == "dana.whitfield@contoso.example"
    assert identity.contact.name == "Dana Whitfield"
    conversation = entry.conversation
    assert conversation.is_unanswered and conversation.status == "open"
    assert InboundEvent.objects.get().state == InboundEvent.DONE
    email = entry.email
    assert email.message_id.startswith("AM6PR05MB5876")
    # Outlook's quoted history is collapsed, not lost.
    assert email.quote_at is not None and "Your order has shipped." in entry.body[email.quote_at :]
    assert "<style" not in email.html and "<b>8</b>" in email.html


@pytest.mark.django_db
def test_the_same_message_twice_makes_one_entry_another_under_its_message_id_a_second(
    deliver_email, inbox_email
) -> None:
    first = deliver_email(eml("outlook"))
    assert deliver_email(eml("outlook").replace(b"\n", b"\r\n")) == first  # redelivered, other line ends
    assert InboundEvent.objects.count() == 1
    # A different message under the same Message-ID is kept (and marked), never dropped.
    second = deliver_email(eml("outlook").replace(b"Hi,", b"Hello again,"))
    assert second is not None and second != first and second.data["shares_message_id"] is True
    assert Entry.objects.filter(kind="message").count() == 2


@pytest.mark.django_db
def test_sender_address_matches_case_insensitively(deliver_email, inbox_email) -> None:
    first = deliver_email(eml("outlook"))
    second = deliver_email(
        eml("auto_reply")
        .replace(b"dana.whitfield@contoso.example>", b"DANA.Whitfield@CONTOSO.example>")
        .replace(b"Auto-Submitted: auto-replied\n", b"")
        .replace(b"Automatic reply: ", b"")
    )
    assert second.conversation_id == first.conversation_id
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_gmail_reply_keeps_cc_attachment_and_raw_source(deliver_email, inbox_email, alice_client) -> None:
    entry = deliver_email(eml("gmail"))
    assert entry.body.startswith("Thanks! I printed the label — the box goes out tomorrow.")
    assert entry.data["cc"] == ["pat.carter@gmail.example"]
    pdf = Attachment.objects.get(entry=entry, filename="receipt.pdf")
    assert (pdf.state, pdf.content_type) == ("stored", "application/pdf")
    response = alice_client.get(f"/attachments/{pdf.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "attachment;" in response["Content-Disposition"]
    raw = entry.email.raw_attachment
    response = alice_client.get(f"/attachments/{raw.pk}/")
    assert response.status_code == 200 and "attachment;" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == eml("gmail")
    page = alice_client.get(f"/inbox/{entry.conversation_id}/").content.decode()
    assert "Re: Your return label" in page and f"/attachments/{raw.pk}/" in page
    assert "receipt.pdf" in page


@pytest.mark.django_db
def test_apple_mail_inline_image_is_served_from_our_url_and_cid_to_nowhere_is_dropped(
    deliver_email, inbox_email
) -> None:
    entry = deliver_email(eml("apple_mail"))
    assert entry.subject == "Photo of the damaged sole 👟"
    assert entry.conversation.contact.name == "Renée Lévesque"
    image = Attachment.objects.get(entry=entry, filename="sole.png")
    assert image.content_type == "image/png"
    html = entry.email.html
    assert f'src="/attachments/{image.pk}/"' in html
    assert "cid:" not in html and "tracker.example" not in html
    assert entry.email.quote_at is not None  # "Sent from my iPhone" is collapsed


@pytest.mark.django_db
def test_an_inline_image_declaring_a_huge_size_is_kept_as_a_file_and_not_drawn(
    deliver_email, inbox_email
) -> None:
    """A 50000 x 50000 PNG is a few bytes by email and gigabytes in the agent's browser."""
    apple_png = (
        b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    raw = eml("apple_mail")
    assert apple_png in raw
    entry = deliver_email(raw.replace(apple_png, base64.b64encode(png(50_000, 50_000))))
    image = Attachment.objects.get(entry=entry, filename="sole.png")
    assert (image.state, image.content_type) == (Attachment.STORED, "application/octet-stream")
    assert f"/attachments/{image.pk}/" not in entry.email.html  # not drawn; still a download in the list


@pytest.mark.django_db
def test_multipart_signed_shows_the_text_and_keeps_the_signature_as_a_file(
    deliver_email, inbox_email
) -> None:
    entry = deliver_email(eml("signed"))
    assert entry.body.startswith("Guten Tag, bitte senden Sie mir die Rechnung für Bestellung 2024-118.")
    assert "Grüße" in entry.body
    assert Attachment.objects.filter(entry=entry, filename="smime.p7s", state="stored").exists()


@pytest.mark.django_db
def test_a_windows_1252_message_with_8bit_body_and_encoded_headers_decodes(
    deliver_email, inbox_email
) -> None:
    entry = deliver_email(eml("latin1"))
    assert entry.subject == "Problème de livraison"
    assert entry.body == "Bonjour, ma commande n\u2019est pas arrivée. Coût : 120 €."
    assert entry.conversation.contact.name == "François Müller"


@pytest.mark.django_db
def test_an_auto_reply_is_recorded_but_does_not_reopen_a_resolved_thread(deliver_email, inbox_email) -> None:
    first = deliver_email(
        eml("outlook").replace(b"Dana.Whitfield@Contoso.example", b"dana.whitfield@contoso.example")
    )
    conversation = first.conversation
    conversation_set_status(conversation=conversation, status="resolved", by=None)
    auto = deliver_email(eml("auto_reply"))
    conversation.refresh_from_db()
    assert auto.conversation_id == conversation.pk
    assert auto.data["auto"] == "auto_reply"
    assert conversation.status == "resolved"
    assert not conversation.is_unanswered
    assert conversation.episodes.filter(resolved_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_list_mail_is_marked_and_awaits_no_reply(deliver_email, inbox_email) -> None:
    raw = eml("auto_reply").replace(
        b"Auto-Submitted: auto-replied\n", b"Precedence: bulk\nList-Id: <news.contoso.example>\n"
    )
    raw = raw.replace(b"Automatic reply: ", b"Newsletter: ")
    entry = deliver_email(raw)
    assert entry.data["auto"] == "list"
    assert not Conversation.objects.get().is_unanswered


@pytest.mark.django_db
def test_a_customer_who_texted_then_emailed_is_offered_a_merge(
    deliver_email, inbox_email, inbox_support
) -> None:
    texted = sms_in(inbox_support, "Hi", phone="+14155550142")
    entry = deliver_email(eml("outlook"))  # the signature carries +1 (415) 555-0142
    suggestion = entry.data["merge_suggestion"]
    assert suggestion["contact"] == texted.conversation.contact_id
    assert suggestion["phone"] == "+14155550142"
    assert EmailMessage.objects.count() == 1
