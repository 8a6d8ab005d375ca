from __future__ import annotations

from datetime import datetime
from typing import Any

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
            },
            created_at=now,
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
    return src
