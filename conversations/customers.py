"""What agents change about a customer, beside their thread: every change is an event entry in it (the audit
trail is the thread), so these live with the thread rather than in `contacts`, which only knows people and
their addresses. Merging rewrites threads, episodes and inbox links; the lifecycle folds its stages by
subscribing to `contact.merged` and `contact.unmerged`.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import PermissionDenied, ValidationError
from contacts import addresses
from contacts.models import AttributeDefinition, Contact, Identity, Label
from contacts.services import (
    NAME_MAX,
    attribute_value_clean,
    contact_created_publish,
    contact_surviving,
    label_clean,
    labels_find,
    value_shown,
    verified_identity,
)
from conversations import realtime
from conversations.models import Conversation, ConversationInbox, Entry, Episode, Inbox
from conversations.selectors import agent_is_admin
from conversations.services import (
    conversation_get_or_create,
    entry_append,
    event_append,
    inbox_links_merged,
    inbox_links_sync,
)
from events.services import event_publish


def identity_attach(*, contact: Contact, kind: str, address: str, by: Any = None) -> Identity:
    """An agent confirms that an address is this customer's: a verified identity, with an event saying who."""

    normalized = addresses.normalize(kind, address)
    if not normalized.valid:
        raise ValidationError(f"{address!r} is not a valid {kind} address.")
    with transaction.atomic():
        existing = verified_identity(normalized)
        if existing is not None:
            if contact_surviving(existing.contact).pk == contact.pk:
                return existing
            raise ValidationError(
                f"{normalized.address} already belongs to {_owner_named(existing, by=by)}; "
                "merge the two customers instead."
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
        conversation = conversation_get_or_create(contact=contact)
        event_append(
            conversation=conversation,
            event_type="contact.identity_added",
            body=f"{who} added {normalized.address} to this customer",
            by=by,
            data={"kind": normalized.kind, "address": normalized.address},
        )
        event_publish(
            type="contact.updated",
            conversation_id=conversation.pk,
            contact_id=contact.pk,
            payload={"fields": ["identities"], "by": by.pk if by is not None else None},
            thread_locked=True,  # event_append has just locked the thread
        )
    return identity


def contact_merge(*, source: Contact, into: Contact, by: Any = None) -> Contact:
    """Two contacts are one person: `source` becomes a tombstone pointing at `into`, which keeps everything.

    Both contacts (then both threads) are locked in id order, so two merges of the same pair cannot deadlock
    or interleave. Identities move; the entries of the source's thread join the survivor's thread, keeping
    `origin_conversation` so the merge can be undone; the thread is one, in time order; agents watching the
    old thread are sent to the merged one.
    """

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
        # One person, one lifecycle: the apps that count people (the lifecycle's funnel) fold their rows in
        # their subscribers, each leaving in `undo` what it needs back if the merge is undone.
        undo: dict[str, Any] = {}
        event_publish(
            type="contact.merged",
            conversation_id=dst_conv.pk,
            contact_id=dst.pk,
            payload={"merged": src.pk, "by": by.pk if by is not None else None},
            at=now,
            thread_locked=True,
            rows={"source": src, "into": dst, "by": by, "undo": undo},
        )

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
                **undo,  # kept with the merge, handed back to the subscribers on contact.unmerged
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
        event_publish(
            type="contact.unmerged",
            conversation_id=dst_conv.pk,
            contact_id=dst.pk,
            payload={"restored": src.pk, "by": by.pk if by is not None else None},
            thread_locked=True,
            rows={"source": src, "into": dst, "by": by, "undo": merge_event.data if merge_event else None},
        )
    return src


def label_create(*, name: str, color: str = "", by: Any = None) -> Label:
    """An admin's new label (agents only apply existing ones)."""

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
                changes.append(f"set {definition.label} to {value_shown(value)}")
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


def _owner_named(identity: Identity, *, by: Any) -> str:
    """Who holds an address, as the agent may be told: the customer's name if they may see them."""
    from conversations.selectors import contact_visible_to

    owner = contact_surviving(identity.contact)
    if by is not None and contact_visible_to(by).filter(pk=owner.pk).exists():
        return f"{owner.display_name} (contact {owner.pk})"
    return "another customer, of a team you are not in"


def contact_create(
    *,
    by: Any,
    name: str = "",
    phone: str = "",
    email: str = "",
    external_id: str = "",
    inbox: Inbox | None = None,
) -> Contact:
    """An agent adds a customer by hand: name, phone (stored as E.164), email and a host site's user id.

    An address that already belongs to a customer is refused with who holds it, never merged on a guess. The
    customer gets their lifetime thread at once, linked to `inbox` (the agent's team sees them there), with
    an event saying who added them; the thread starts resolved: there is nothing to answer yet.
    """
    text = " ".join(str(name).split())
    if len(text) > NAME_MAX:
        raise ValidationError(f"A name can be at most {NAME_MAX} characters.")
    wanted: list[tuple[addresses.NormalizedAddress, str]] = []
    if phone.strip():
        normalized = addresses.normalize_phone(phone)
        if not normalized.valid:
            raise ValidationError(f"{phone.strip()[:80]!r} is not a phone number (e.g. +1 415 555 0100).")
        wanted.append((normalized, ""))
    if email.strip():
        normalized = addresses.normalize_email(email)
        if not normalized.valid:
            raise ValidationError(f"{email.strip()[:80]!r} is not an email address.")
        wanted.append((normalized, ""))
    if external_id.strip():
        site = _site_for_user_id(inbox)
        normalized = addresses.normalize(addresses.EXTERNAL, external_id)
        wanted.append((normalized, addresses.site_scope(site.pk)))
    if not text and not wanted:
        raise ValidationError("A customer needs a name, a phone number or an email address.")
    with transaction.atomic():
        for normalized, scope in wanted:
            taken = (
                Identity.objects.select_related("contact")
                .filter(kind=normalized.kind, scope=scope, address=normalized.address, verified=True)
                .first()
            )
            if taken is not None:
                raise ValidationError(
                    f"{normalized.address} already belongs to {_owner_named(taken, by=by)}; "
                    "nothing was created. Open that customer, or merge the two in their thread."
                )
        contact = Contact.objects.create(name=text)
        now = timezone.now()
        try:
            with transaction.atomic():
                Identity.objects.bulk_create(
                    [
                        Identity(
                            contact=contact,
                            kind=normalized.kind,
                            scope=scope,
                            address=normalized.address,
                            raw_address=normalized.raw,
                            verified=True,
                            is_valid=normalized.valid,
                            last_seen_at=now,
                        )
                        for normalized, scope in wanted
                    ]
                )
        except IntegrityError as error:
            # The same address arrived (a message, another agent) between the check and the insert.
            raise ValidationError(
                "One of these addresses was just given to another customer; search for it and try again."
            ) from error
        contact_created_publish(contact, identity_kind=wanted[0][0].kind if wanted else None)
        conversation, _ = Conversation.objects.get_or_create(
            contact=contact, defaults={"last_activity_at": now, "status": Conversation.RESOLVED}
        )
        who = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
        listed = ", ".join(normalized.address for normalized, _ in wanted)
        entry_append(
            conversation=conversation,
            kind=Entry.EVENT,
            direction=Entry.INTERNAL,
            inbox=inbox,
            author=by,
            event_type="contact.created",
            body=f"{who} added this customer" + (f" ({listed})" if listed else ""),
            data={"addresses": [normalized.address for normalized, _ in wanted]},
            created_at=now,
        )
    return contact


def _site_for_user_id(inbox: Inbox | None) -> Inbox:
    """The web chat site a host-site user id is scoped to: the inbox picked, or the only site there is."""
    if inbox is not None and inbox.kind == Inbox.WEBCHAT:
        return inbox
    sites = list(Inbox.objects.filter(kind=Inbox.WEBCHAT).order_by("pk")[:2])
    if len(sites) == 1:
        return sites[0]
    if not sites:
        raise ValidationError("A user id belongs to a web chat site, and this hub has none yet.")
    raise ValidationError("Pick, as the inbox, the web chat site this user id comes from.")
