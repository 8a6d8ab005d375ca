"""Reads about customers: the side panel's "whole customer at a glance"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def user_ids_waiting_for_site() -> int:
    """Host-site user ids with no site to scope them (they verify nobody until an admin scopes them)."""
    return Identity.objects.filter(kind=addresses.EXTERNAL, scope="").count()


def address_suppressed(*, channel: str, address: str) -> datetime | None:
    """When `address` (normalized) asked not to be messaged on `channel`, or None: the check every send makes."""
    from contacts.models import Suppression, suppression_key

    found = Suppression.objects.filter(
        channel=channel, key=suppression_key(channel=channel, address=address)
    ).first()
    return found.created_at if found is not None else None
