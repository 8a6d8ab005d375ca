from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts import addresses
from contacts.models import Contact, Identity


def contact_surviving(contact: Contact) -> Contact:
    """Follow merge tombstones to the contact that survives."""
    seen: set[int] = set()
    while contact.merged_into_id is not None and contact.pk not in seen:
        seen.add(contact.pk)
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def contact_resolve(*, kind: str, address: str, name: str = "") -> tuple[Contact, Identity]:
    """Who is this verified address? The owning contact, created with its identity the first time it is seen.

    Safe under concurrency: two events from a new number at once make one contact (the unique constraint
    on verified identities decides, and the loser reads the winner's row).
    """
    normalized = addresses.normalize(kind, address)
    now = timezone.now()
    identity = _verified_identity(normalized)
    if identity is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(name=name[:200])
                identity = Identity.objects.create(
                    contact=contact,
                    kind=normalized.kind,
                    address=normalized.address,
                    raw_address=normalized.raw,
                    verified=True,
                    is_valid=normalized.valid,
                    last_seen_at=now,
                )
            return contact, identity
        except IntegrityError:
            identity = _verified_identity(normalized)
            if identity is None:
                raise
    contact = contact_surviving(identity.contact)
    Identity.objects.filter(pk=identity.pk).update(last_seen_at=now)
    if name and not contact.name:
        contact.name = name[:200]
        contact.save(update_fields=["name", "updated_at"])
    return contact, identity


def identity_set_opt_out(*, identity: Identity, opted_out: bool, at: datetime | None = None) -> bool:
    """Record an SMS opt-out (STOP) or opt-in (START) made at `at`. Returns whether anything changed.

    A keyword older than the last one applied changes nothing, so STOP and START processed out of order
    leave the customer's latest wish in force.
    """
    at = at or timezone.now()
    if identity.opt_changed_at is not None and at < identity.opt_changed_at:
        return False
    identity.opt_changed_at = at
    changed = opted_out != (identity.opted_out_at is not None)
    if changed:
        identity.opted_out_at = at if opted_out else None
    identity.save(update_fields=["opted_out_at", "opt_changed_at"])
    return changed


def _verified_identity(normalized: addresses.NormalizedAddress) -> Identity | None:
    return (
        Identity.objects.select_related("contact")
        .filter(kind=normalized.kind, address=normalized.address, verified=True)
        .first()
    )
