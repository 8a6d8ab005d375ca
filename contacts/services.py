from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.text import name_clean
from contacts import addresses
from contacts.models import AttributeDefinition, Contact, Identity, Label, Suppression, suppression_key
from events.services import event_publish


def contact_surviving(contact: Contact) -> Contact:
    """Follow merge tombstones to the contact that survives."""
    seen: set[int] = set()
    while contact.merged_into_id is not None and contact.pk not in seen:
        seen.add(contact.pk)
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def contact_surviving_locked(contact: Contact) -> Contact:
    """Inside a transaction: the surviving contact with its row locked until the transaction ends.

    A merge locks both contacts before it moves their threads' entries, so a caller that appends to the
    thread of the contact returned here either goes first (and its entry is moved with the rest) or waits
    and is handed the survivor; never a thread that was merged away a moment ago. Outside a transaction
    there is nothing to hold the lock: the merge tombstones are followed as they are.
    """
    if not transaction.get_connection().in_atomic_block:
        return contact_surviving(contact)
    seen: set[int] = set()
    while True:
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.merged_into_id is None or locked.pk in seen:
            return locked
        seen.add(locked.pk)
        contact = Contact(pk=locked.merged_into_id)


def contact_resolve(*, kind: str, address: str, name: str = "") -> tuple[Contact, Identity]:
    """Who is this verified address? The owning contact, created with its identity the first time it is seen.

    Safe under concurrency: two events from a new number at once make one contact (the unique constraint
    on verified identities decides, and the loser reads the winner's row); and, inside a transaction, the
    contact is locked, so a merge of this contact finishing meanwhile cannot leave the caller's next entry
    in the merged-away thread (contact_surviving_locked).
    """
    normalized = addresses.normalize(kind, address)
    for _ in range(5):
        found = _contact_resolve_once(normalized, name=name)
        if found is not None:
            return found
    raise RuntimeError(f"The {normalized.kind} address kept vanishing while it was resolved")


def _contact_resolve_once(
    normalized: addresses.NormalizedAddress, *, name: str
) -> tuple[Contact, Identity] | None:
    """None when the identity was deleted while this waited for its contact's lock (the customer was erased,
    or the address moved): the caller resolves again, and the address now names a new contact."""
    now = timezone.now()
    identity = verified_identity(normalized)
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
                contact_created_publish(contact, identity_kind=normalized.kind)
            return contact, identity
        except IntegrityError:
            identity = verified_identity(normalized)
            if identity is None:
                raise
    contact = contact_surviving_locked(identity.contact)
    if not Identity.objects.filter(pk=identity.pk).update(last_seen_at=now):
        return None
    if name and not contact.name:
        contact.name = name[:200]
        contact.save(update_fields=["name", "updated_at"])
    return contact, identity


def contact_created_publish(contact: Contact, *, identity_kind: str | None) -> None:
    """contact.created, in the transaction that made the contact (it has no thread yet)."""
    event_publish(
        type="contact.created",
        conversation_id=None,
        contact_id=contact.pk,
        payload={"name": contact.name, "identity_kind": identity_kind},
    )


def identities_scope_to_site(*, identities: Any, site_id: int) -> tuple[int, list[str]]:
    """An admin scopes unscoped host-site user ids to one web chat site. A user id the site already gives to
    another customer is refused (never merged on a guess). Returns (scoped, refused addresses)."""
    scope = addresses.site_scope(site_id)
    scoped, refused = 0, []
    for identity in identities.filter(kind=addresses.EXTERNAL, scope=""):
        try:
            with transaction.atomic():
                Identity.objects.filter(pk=identity.pk).update(scope=scope)
            scoped += 1
        except IntegrityError:
            refused.append(identity.address)
    return scoped, refused


def identity_set_opt_out(*, identity: Identity, opted_out: bool, at: datetime | None = None) -> bool:
    """Record an SMS opt-out (STOP) or opt-in (START) made at `at`. Returns whether anything changed.

    The opt-out is a Suppression of the number (a keyed hash), not a flag on this identity: it outlives an
    erasure and holds for every contact sharing the number. A keyword older than the last one applied to this
    identity changes nothing, so STOP and START processed out of order leave the customer's latest wish.
    """
    at = at or timezone.now()
    if identity.opt_changed_at is not None and at < identity.opt_changed_at:
        return False
    identity.opt_changed_at = at
    identity.save(update_fields=["opt_changed_at"])
    return suppression_set(channel=Suppression.SMS, address=identity.address, suppressed=opted_out, at=at)


def suppression_set(*, channel: str, address: str, suppressed: bool, at: datetime | None = None) -> bool:
    """Suppress `address` (normalized) on `channel`, or lift its suppression. Returns whether it changed."""
    key = suppression_key(channel=channel, address=address)
    if not suppressed:
        return Suppression.objects.filter(channel=channel, key=key).delete()[0] > 0
    _, created = Suppression.objects.get_or_create(
        channel=channel, key=key, defaults={"created_at": at or timezone.now()}
    )
    return created


def verified_identity(normalized: addresses.NormalizedAddress) -> Identity | None:
    return (
        Identity.objects.select_related("contact")
        .filter(kind=normalized.kind, address=normalized.address, verified=True)
        .first()
    )


# --- labels, custom attributes and inline edits ------------------------------------------------------
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
ATTRIBUTE_TEXT_MAX = 1000
NAME_MAX = 200


def label_clean(*, name: str, color: str) -> tuple[str, str]:
    """A label's name and color as stored, or a ValidationError that says what to change."""
    from config.errors import ValidationError

    text = name_clean(name, max_length=Label.NAME_MAX, what="a label")
    color = (color or "#64748b").strip()
    if not COLOR.match(color):
        raise ValidationError(f"{color[:20]!r} is not a color; write it as #rrggbb, e.g. #2457d6.")
    return text, color.lower()


def attribute_value_clean(*, definition: AttributeDefinition, value: Any) -> Any:
    """A value typed into a custom attribute, as stored in `Contact.attributes`; None clears it."""
    from config.errors import ValidationError

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    label = definition.label
    kind = definition.type
    if kind == AttributeDefinition.BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValidationError(f"{label} is yes or no.")
    if isinstance(value, (dict, list)):
        raise ValidationError(f"{label} takes a single value.")
    text = str(value).strip()
    if kind == AttributeDefinition.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"{label} is a number; {text[:40]!r} is not one.") from None
        if not number.is_finite():
            raise ValidationError(f"{label} is a number; {text[:40]!r} is not one.")
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == AttributeDefinition.DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError(f"{label} is a date, written as 2026-03-31.") from None
    if kind == AttributeDefinition.CHOICE:
        allowed = [str(choice) for choice in definition.choices or []]
        if text not in allowed:
            raise ValidationError(f"{label} is one of: {', '.join(allowed) or '(no values defined yet)'}.")
        return text
    if len(text) > ATTRIBUTE_TEXT_MAX:
        raise ValidationError(f"{label} can be at most {ATTRIBUTE_TEXT_MAX} characters.")
    return text


def labels_find(values: list[int | str]) -> list[Label]:
    from config.errors import ValidationError

    if not isinstance(values, list):
        raise ValidationError("Labels are a list of label ids or names.")
    found: list[Label] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("Labels are a list of label ids or names.")
        if isinstance(value, str) and len(value) > Label.NAME_MAX:
            raise ValidationError(
                f"No label is longer than {Label.NAME_MAX} characters; pick an existing label."
            )
        label = (
            Label.objects.filter(pk=value).first()
            if isinstance(value, int) or value.isdigit()
            else Label.objects.filter(name__iexact=value.strip()).first()
        )
        if label is None:
            raise ValidationError(f"No label {str(value)[:50]!r}; an admin creates labels.")
        if label not in found:
            found.append(label)
    return found


def value_shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, str) else str(value)


# --- labels and attribute definitions, managed on /inbox/settings/labels/ ------------------------------------
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def label_save(*, label: Label | None, name: str, color: str) -> Label:
    """Create a label, or rename and recolor one; a name another label has (in any case) is refused."""
    from config.errors import ValidationError

    name, color = label_clean(name=name, color=color)
    taken = Label.objects.filter(name__iexact=name)
    if label is not None:
        taken = taken.exclude(pk=label.pk)
    if taken.exists():
        raise ValidationError(f"A label named {name!r} exists already.")
    label = label or Label()
    label.name, label.color = name, color
    label.save()
    return label


def label_delete(*, label: Label) -> int:
    """Delete a label; the customers who had it lose it. Returns how many had it."""
    had = label.contacts.count()
    label.delete()
    return had


def attribute_definition_save(
    *,
    definition: AttributeDefinition | None,
    label: str,
    key: str = "",
    kind: str = AttributeDefinition.TEXT,
    choices: str = "",
) -> AttributeDefinition:
    """Define a custom attribute (its key and type are fixed once made: values are stored under the key), or
    rename one and change a choice attribute's values."""
    from config.errors import ValidationError

    text = name_clean(label, max_length=100, what="an attribute")
    if definition is None:
        key = (key.strip() or re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_"))[:50]
        if not _KEY.match(key):
            raise ValidationError(
                f"{key[:50]!r} cannot be a key: use lower-case letters, digits and _, starting with a letter."
            )
        if AttributeDefinition.objects.filter(key=key).exists():
            raise ValidationError(f"An attribute with the key {key!r} exists already.")
        if kind not in dict(AttributeDefinition.TYPE_CHOICES):
            raise ValidationError(f"{kind[:20]!r} is not a type; pick text, number, date, yes/no or choice.")
        definition = AttributeDefinition(key=key, type=kind, position=AttributeDefinition.objects.count())
    definition.label = text
    if definition.type == AttributeDefinition.CHOICE:
        values = list(dict.fromkeys(v.strip() for v in choices.split(",") if v.strip()))
        if not values:
            raise ValidationError("A choice attribute needs its values, separated by commas.")
        definition.choices = values
    definition.save()
    return definition


def attribute_definition_delete(*, definition: AttributeDefinition) -> None:
    """Delete a definition. Values already on customers stay in their record but are no longer shown or edited."""
    definition.delete()
