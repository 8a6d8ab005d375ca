"""Starting a conversation: the agent writes first, to a new or an existing customer, on any channel.

The customer is found by the address (or made, with the address as a verified identity, as when an
agent adds an address to a customer), and the first message goes through the same send as a reply, with
the channel's rules: a number that texted STOP is not messaged, WhatsApp needs the customer to have
written in the last 24 hours. A refused send leaves nothing behind (no customer made for it).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from config.errors import ValidationError
from contacts import addresses
from contacts.models import Identity
from contacts.services import contact_resolve, contact_surviving
from conversations.models import Conversation, Entry, Inbox
from conversations.selectors import agent_can_see, inbox_visible_to
from conversations.services import conversation_get_or_create

START_CHANNELS = (Entry.SMS, Entry.WHATSAPP, Entry.EMAIL, Entry.VOICE)


def conversation_start(
    *, by: User, channel: str, address: str, body: str = "", name: str = "", inbox: Inbox | None = None
) -> Entry:
    """The first outbound entry (a message, or a call for `voice`) of a thread with the customer at `address`."""
    from channels_adapters.outbound import message_send
    from channels_adapters.voice.services import call_place

    if channel not in START_CHANNELS:
        raise ValidationError("Start a conversation by SMS, WhatsApp, email or a call.")
    kind = addresses.EMAIL if channel == Entry.EMAIL else addresses.PHONE
    normalized = addresses.normalize(kind, address.strip()[:320])
    if not address.strip() or not normalized.valid:
        what = "an email address" if kind == addresses.EMAIL else "a phone number (e.g. +1 415 555 0100)"
        raise ValidationError(f"{address.strip()[:80]!r} is not {what}.")
    if len(name) > 200:
        raise ValidationError("A name can be at most 200 characters.")
    existing = (
        Identity.objects.select_related("contact")
        .filter(kind=normalized.kind, address=normalized.address, verified=True)
        .first()
    )
    if existing is not None:
        thread = Conversation.objects.filter(contact=contact_surviving(existing.contact)).first()
        if thread is not None and not agent_can_see(by, thread):
            # The customer is another team's: writing would open their whole history to this agent.
            raise ValidationError(
                "This address is not reachable from your inboxes; ask a manager to start it."
            )
    if inbox is None:
        wanted = Inbox.EMAIL if channel == Entry.EMAIL else Inbox.PHONE
        inbox = inbox_visible_to(by).filter(kind=wanted).exclude(address="").order_by("pk").first()
    with transaction.atomic():
        contact, _ = contact_resolve(
            kind=normalized.kind, address=normalized.address, name=" ".join(name.split())
        )
        conversation = conversation_get_or_create(contact=contact)
        if channel == Entry.VOICE:
            return call_place(conversation=conversation, agent=by, inbox=inbox)
        return message_send(conversation=conversation, body=body, author=by, channel=channel, inbox=inbox)
