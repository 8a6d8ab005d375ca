"""Reads about customers: the side panel's "whole customer at a glance"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max, Min

from contacts import addresses
from contacts.models import AttributeDefinition, Contact, Identity, Label


@dataclass(frozen=True)
class AttributeRow:
    definition: AttributeDefinition
    value: Any

    @property
    def input_value(self) -> str:
        """The value as a form input shows it."""
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)


@dataclass(frozen=True)
class ContactPanel:
    contact: Contact
    identities: list[Identity]
    labels: list[Label]
    all_labels: list[Label]
    attributes: list[AttributeRow]
    other_attributes: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None
    channels: list[str]


def contact_panel(*, contact: Contact) -> ContactPanel:
    """Everything the side panel shows of a customer, in a handful of queries (not one per entry)."""
    from conversations.models import Entry

    identities = list(contact.identities.order_by("kind", "address"))
    labels = list(contact.labels.order_by("name"))
    values = contact.attributes if isinstance(contact.attributes, dict) else {}
    definitions = list(AttributeDefinition.objects.all())
    defined = {d.key for d in definitions}
    entries = Entry.objects.filter(conversation__contact=contact)
    span = entries.filter(kind__in=(Entry.MESSAGE, Entry.CALL), direction=Entry.INBOUND).aggregate(
        first=Min("created_at"), last=Max("created_at")
    )
    seen = [i.last_seen_at for i in identities if i.last_seen_at] + ([span["last"]] if span["last"] else [])
    channels = sorted(set(entries.exclude(channel="").values_list("channel", flat=True).distinct()))
    return ContactPanel(
        contact=contact,
        identities=identities,
        labels=labels,
        all_labels=list(Label.objects.order_by("name")),
        attributes=[AttributeRow(d, values.get(d.key)) for d in definitions],
        other_attributes={k: v for k, v in values.items() if k not in defined},
        first_seen=min(filter(None, [span["first"], contact.created_at])),
        last_seen=max(seen) if seen else None,
        channels=channels,
    )


def user_ids_waiting_for_site() -> int:
    """Host-site user ids with no site to scope them (they verify nobody until an admin scopes them)."""
    return Identity.objects.filter(kind=addresses.EXTERNAL, scope="").count()
