from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.text import name_clean
from contacts import addresses
from contacts.models import AttributeDefinition, Contact, Identity, Label
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
                contact_created_publish(contact, identity_kind=normalized.kind)
            return contact, identity
        except IntegrityError:
            identity = _verified_identity(normalized)
            if identity is None:
                raise
    contact = contact_surviving_locked(identity.contact)
    Identity.objects.filter(pk=identity.pk).update(last_seen_at=now)
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


def identity_attach(*, contact: Contact, kind: str, address: str, by: Any = None) -> Identity:
    """An agent confirms that an address is this customer's: a verified identity, with an event saying who."""
    from config.errors import ValidationError
    from conversations.services import conversation_get_or_create, event_append

    normalized = addresses.normalize(kind, address)
    if not normalized.valid:
        raise ValidationError(f"{address!r} is not a valid {kind} address.")
    with transaction.atomic():
        existing = _verified_identity(normalized)
        if existing is not None:
            if contact_surviving(existing.contact).pk == contact.pk:
                return existing
            raise ValidationError(
                f"{normalized.address} already belongs to another customer; merge the two customers instead."
            )
        identity = Identity.objects.create(
            contact=contact,
            kind=normalized.kind,
            address=normalized.address,
            raw_address=normalized.raw,
            verified=True,
            is_valid=True,
            last_seen_at=timezone.now(),
        )
        who = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
        event_append(
            conversation=conversation_get_or_create(contact=contact),
            event_type="contact.identity_added",
            body=f"{who} added {normalized.address} to this customer",
            by=by,
            data={"kind": normalized.kind, "address": normalized.address},
        )
    return identity


def contact_merge(*, source: Contact, into: Contact, by: Any = None) -> Contact:
    """Two contacts are one person: `source` becomes a tombstone pointing at `into`, which keeps everything.

    Both contacts (then both threads) are locked in id order, so two merges of the same pair cannot deadlock
    or interleave. Identities move; the entries of the source's thread join the survivor's thread, keeping
    `origin_conversation` so the merge can be undone; the thread is one, in time order; agents watching the
    old thread are sent to the merged one.
    """
    from config.errors import ValidationError
    from conversations import realtime
    from conversations.models import Conversation, ConversationInbox, Entry, Episode
    from conversations.services import (
        conversation_get_or_create,
        event_append,
        inbox_links_merged,
        inbox_links_sync,
    )

    if source.pk == into.pk:
        raise ValidationError("A customer cannot be merged into themselves.")
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Contact.objects.select_for_update().filter(pk__in=[source.pk, into.pk]).order_by("pk")
        }
        src, dst = locked.get(source.pk), locked.get(into.pk)
        if src is None or dst is None:
            raise ValidationError("No such customer.")
        if src.merged_into_id is not None or dst.merged_into_id is not None:
            raise ValidationError(
                "One of these customers was already merged into another; reload and try again."
            )
        src_conv = conversation_get_or_create(contact=src)
        dst_conv = conversation_get_or_create(contact=dst)
        threads = {
            c.pk: c
            for c in Conversation.objects.select_for_update()
            .filter(pk__in=[src_conv.pk, dst_conv.pk])
            .order_by("pk")
        }
        src_conv, dst_conv = threads[src_conv.pk], threads[dst_conv.pk]
        now = timezone.now()

        moved_addresses = list(Identity.objects.filter(contact=src).values_list("address", flat=True))
        Identity.objects.filter(contact=src).update(contact=dst)
        if Episode.objects.filter(conversation=dst_conv, resolved_at__isnull=True).exists():
            Episode.objects.filter(conversation=src_conv, resolved_at__isnull=True).update(resolved_at=now)
        Episode.objects.filter(conversation=src_conv).update(conversation=dst_conv)
        moved_entries = Entry.objects.filter(conversation=src_conv).update(conversation=dst_conv)
        for inbox_id in ConversationInbox.objects.filter(conversation=src_conv).values_list(
            "inbox_id", flat=True
        ):
            ConversationInbox.objects.get_or_create(conversation=dst_conv, inbox_id=inbox_id)

        fields = {"status", "waiting_since", "last_activity_at", "last_preview", "last_preview_direction"}
        if src_conv.last_activity_at > dst_conv.last_activity_at and src_conv.last_preview_direction:
            dst_conv.last_activity_at = src_conv.last_activity_at
            dst_conv.last_preview = src_conv.last_preview
            dst_conv.last_preview_direction = src_conv.last_preview_direction
        if src_conv.last_inbound_at and (
            dst_conv.last_inbound_at is None or src_conv.last_inbound_at > dst_conv.last_inbound_at
        ):
            dst_conv.last_inbound_at = src_conv.last_inbound_at
            dst_conv.last_inbound_channel = src_conv.last_inbound_channel
            dst_conv.last_inbound_inbox_id = src_conv.last_inbound_inbox_id
            fields |= {"last_inbound_at", "last_inbound_channel", "last_inbound_inbox"}
        waits = [w for w in (src_conv.waiting_since, dst_conv.waiting_since) if w is not None]
        dst_conv.waiting_since = min(waits) if waits else None
        if src_conv.status == Conversation.OPEN or dst_conv.status == Conversation.OPEN:
            dst_conv.status = Conversation.OPEN
        if dst_conv.assignee_id is None and src_conv.assignee_id is not None:
            dst_conv.assignee_id = src_conv.assignee_id
            fields.add("assignee")
        dst_conv.save(update_fields=sorted(fields))
        inbox_links_sync(dst_conv)
        if (
            dst_conv.status == Conversation.OPEN
            and not Episode.objects.filter(conversation=dst_conv, resolved_at__isnull=True).exists()
        ):
            Episode.objects.create(
                conversation=dst_conv, team=dst_conv.team, assignee=dst_conv.assignee, opened_at=now
            )

        src_conv.status = Conversation.RESOLVED
        src_conv.waiting_since = None
        src_conv.last_preview = f"Merged into {dst.display_name}"[:200]
        src_conv.save(update_fields=["status", "waiting_since", "last_preview"])
        inbox_links_merged(src_conv)

        dst.attributes = {**(src.attributes or {}), **(dst.attributes or {})}
        if not dst.name and src.name:
            dst.name = src.name
        dst.save(update_fields=["attributes", "name", "updated_at"])
        src.merged_into = dst
        src.save(update_fields=["merged_into", "updated_at"])
        dst.labels.add(*src.labels.all())
        # One person, one lifecycle: the funnel must not count the merged-away contact as well.
        from lifecycle.services import stage_merge

        stage_undo = stage_merge(source=src, into=dst, by=by, at=now)

        who = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
        src_name = src.name or (moved_addresses[0] if moved_addresses else f"Contact {src.pk}")
        event_append(
            conversation=dst_conv,
            event_type="contact.merged",
            body=f"{who} merged {src_name} (contact {src.pk}) into {dst.display_name}: "
            f"{_count(moved_entries, 'entry', 'entries')} and {_count(len(moved_addresses), 'address', 'addresses')} "
            "moved",
            by=by,
            data={
                "merged_contact": src.pk,
                "merged_conversation": src_conv.pk,
                "addresses": moved_addresses,
                "entries": moved_entries,
                "lifecycle": stage_undo,
            },
            created_at=now,
        )
        event_publish(
            type="contact.merged",
            conversation_id=dst_conv.pk,
            contact_id=dst.pk,
            payload={"merged": src.pk, "by": by.pk if by is not None else None},
            at=now,
            thread_locked=True,
        )
        # Agents watching the old thread are sent to the merged one.
        realtime.event_record(
            type="conversation.merged", conversation=src_conv, payload={"into": dst_conv.pk}
        )
    return dst


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def contact_unmerge(*, merged: Contact, by: Any = None) -> Contact:
    """Undo a merge: the tombstone comes back with the identities and the entries it brought (by their
    `origin_conversation`), and both threads say who undid it. Returns the restored contact."""
    from config.errors import ValidationError
    from conversations.models import Conversation, Entry, Episode
    from conversations.services import (
        conversation_get_or_create,
        event_append,
        inbox_links_sync,
    )

    with transaction.atomic():
        if merged.merged_into_id is None:
            raise ValidationError("This customer was not merged into another.")
        pair = (
            Contact.objects.select_for_update()
            .filter(pk__in=[merged.pk, merged.merged_into_id])
            .order_by("pk")
        )
        locked = {c.pk: c for c in pair}
        src = locked[merged.pk]
        if src.merged_into_id is None or src.merged_into_id not in locked:
            raise ValidationError("This merge was changed meanwhile; reload and try again.")
        dst = locked[src.merged_into_id]
        src_conv = conversation_get_or_create(contact=src)
        dst_conv = conversation_get_or_create(contact=dst)
        list(
            Conversation.objects.select_for_update().filter(pk__in=[src_conv.pk, dst_conv.pk]).order_by("pk")
        )
        merge_event = (
            Entry.objects.filter(
                conversation=dst_conv, event_type="contact.merged", data__merged_contact=src.pk
            )
            .order_by("-created_at", "-id")
            .first()
        )
        moved_addresses = list(merge_event.data.get("addresses", [])) if merge_event else []
        Identity.objects.filter(contact=dst, address__in=moved_addresses).update(contact=src)
        theirs = Entry.objects.filter(conversation=dst_conv, origin_conversation=src_conv)
        episode_ids = set(theirs.exclude(episode=None).values_list("episode_id", flat=True))
        ours = set(
            Entry.objects.filter(conversation=dst_conv, episode_id__in=episode_ids)
            .exclude(origin_conversation=src_conv)
            .values_list("episode_id", flat=True)
        )
        moved = theirs.update(conversation=src_conv)
        Episode.objects.filter(pk__in=episode_ids - ours).update(conversation=src_conv)
        if merge_event is not None:
            from lifecycle.services import stage_unmerge

            stage_unmerge(source=src, into=dst, undo=merge_event.data.get("lifecycle") or {})
        src.merged_into = None
        src.save(update_fields=["merged_into", "updated_at"])
        last = (
            Entry.objects.filter(conversation=src_conv).exclude(kind="event").order_by("-created_at").first()
        )
        if last is not None:
            src_conv.last_activity_at = last.created_at
            src_conv.last_preview = " ".join(last.body.split())[:200]
            src_conv.last_preview_direction = last.direction
            src_conv.save(update_fields=["last_activity_at", "last_preview", "last_preview_direction"])
        inbox_links_sync(src_conv)
        who = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
        text = (
            f"{who} undid the merge of {src.display_name} (contact {src.pk}): "
            f"{_count(moved, 'entry', 'entries')} moved back"
        )
        for conversation in (dst_conv, src_conv):
            event_append(
                conversation=conversation,
                event_type="contact.unmerged",
                body=text,
                by=by,
                data={"contact": src.pk, "from_contact": dst.pk, "entries": moved},
            )
        event_publish(
            type="contact.unmerged",
            conversation_id=dst_conv.pk,
            contact_id=dst.pk,
            payload={"restored": src.pk, "by": by.pk if by is not None else None},
            thread_locked=True,
        )
    return src


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


def label_create(*, name: str, color: str = "", by: Any = None) -> Label:
    """An admin's new label (agents only apply existing ones)."""
    from config.errors import PermissionDenied, ValidationError
    from conversations.selectors import agent_is_admin

    if by is not None and not agent_is_admin(by):
        raise PermissionDenied("Only admins create labels; ask one to add it.")
    text, color = label_clean(name=name, color=color)
    if Label.objects.filter(name__iexact=text).exists():
        raise ValidationError(f"There is already a label named {text!r}.")
    try:
        with transaction.atomic():
            return Label.objects.create(name=text, color=color)
    except IntegrityError as error:
        raise ValidationError(f"There is already a label named {text!r}.") from error


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


def contact_update(
    *,
    contact: Contact,
    by: Any,
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
    labels: list[int | str] | None = None,
) -> Contact:
    """An agent edits a customer inline: name, custom attributes (only the keys given), labels (the whole set).

    Everything is checked before anything is written; the change is an event in the customer's thread.
    """
    from config.errors import ValidationError
    from conversations.services import conversation_get_or_create, event_append

    changes: list[str] = []
    new_name = None
    if name is not None:
        new_name = " ".join(str(name).split())
        if len(new_name) > NAME_MAX:
            raise ValidationError(f"A name can be at most {NAME_MAX} characters.")
    cleaned: dict[str, Any] = {}
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise ValidationError("Attributes are an object of key: value.")
        definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=list(attributes))}
        for key, value in attributes.items():
            definition = definitions.get(str(key))
            if definition is None:
                raise ValidationError(
                    f"No custom attribute {str(key)[:50]!r}; an admin defines attributes in the admin."
                )
            cleaned[definition.key] = (definition, attribute_value_clean(definition=definition, value=value))
    wanted_labels: list[Label] | None = None
    if labels is not None:
        wanted_labels = labels_find(labels)
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        fields: list[str] = []
        if new_name is not None and new_name != locked.name:
            changes.append(
                f"renamed the customer to {new_name!r}" if new_name else "cleared the customer's name"
            )
            locked.name = new_name
            fields.append("name")
        if cleaned:
            values = dict(locked.attributes or {})
            for key, (definition, value) in cleaned.items():
                if values.get(key) == value:
                    continue
                if value is None:
                    if key in values:
                        del values[key]
                        changes.append(f"cleared {definition.label}")
                    continue
                values[key] = value
                changes.append(f"set {definition.label} to {_shown(value)}")
            if values != (locked.attributes or {}):
                locked.attributes = values
                fields.append("attributes")
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if wanted_labels is not None:
            before = {label.pk: label for label in locked.labels.all()}
            after = {label.pk: label for label in wanted_labels}
            added = [after[pk].name for pk in after if pk not in before]
            removed = [before[pk].name for pk in before if pk not in after]
            if added or removed:
                fields.append("labels")
                locked.labels.set(list(after.values()))
                changes += [f"added the label {n!r}" for n in added] + [
                    f"removed the label {n!r}" for n in removed
                ]
        if changes:
            who = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
            conversation = conversation_get_or_create(contact=locked)
            event_append(
                conversation=conversation,
                event_type="contact.updated",
                body=f"{who} " + "; ".join(changes),
                by=by,
                data={"changes": changes},
            )
            event_publish(
                type="contact.updated",
                conversation_id=conversation.pk,
                contact_id=locked.pk,
                payload={"fields": fields, "by": by.pk if by is not None else None},
                thread_locked=True,  # event_append has just locked the thread
            )
    return locked


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


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, str) else str(value)
