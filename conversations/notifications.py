"""Mentions in notes and the notifications they leave: a row per mentioned agent, pushed to their socket."""

from __future__ import annotations

import re
from typing import TypedDict

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.errors import ValidationError
from conversations import realtime
from conversations.models import Conversation, Entry, Notification
from conversations.selectors import agent_can_see, notification_unread_count

# `@name` at the start or after a space or punctuation, not inside an email address (a@b.example).
MENTION = re.compile(r"(?<![\w@.+-])@(\w[\w.-]*\w|\w)")


class NotificationPayload(TypedDict):
    id: int
    kind: str
    conversation: int
    entry: int | None
    text: str
    url: str
    unread: int


def mentioned_usernames(text: str) -> list[str]:
    names: list[str] = []
    for match in MENTION.finditer(text):
        name = match.group(1)
        if name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def mentions_resolve(*, conversation: Conversation, text: str) -> list[User]:
    """The agents a note mentions; a name nobody has, or an agent who cannot see the thread, is refused."""
    mentioned: list[User] = []
    for name in mentioned_usernames(text):
        user = User.objects.filter(username__iexact=name, is_active=True, agent__isnull=False).first()
        if user is None:
            raise ValidationError(f"No agent is called @{name}; mention a colleague by their username.")
        if not agent_can_see(user, conversation):
            raise ValidationError(
                f"@{user.get_username()} cannot see this conversation (none of their teams holds its "
                "inboxes), so the mention would not reach them. Assign it to their team first, or "
                "leave them out."
            )
        mentioned.append(user)
    return mentioned


def notifications_for_mentions(*, entry: Entry, mentioned: list[User], by: User | None) -> list[Notification]:
    """One notification per mentioned agent (not the author), pushed to their socket after commit. `by` None is
    the hub itself (a rule that notifies)."""
    created = []
    author = (by.get_full_name() or by.get_username()) if by is not None else "The hub"
    for user in mentioned:
        if by is not None and user.pk == by.pk:
            continue
        notification = Notification.objects.create(
            recipient=user,
            kind=Notification.MENTION,
            conversation_id=entry.conversation_id,
            entry=entry,
            actor=by,
        )
        created.append(notification)
        payload = notification_payload(notification, text=f"{author} mentioned you: {entry.body[:140]}")
        realtime.agent_event_record(type="notification.created", agent_id=user.pk, payload=dict(payload))
    return created


def notification_owner_send(*, entry: Entry, owner: User, by: User | None) -> Notification:
    """The new owner of a customer hears of it (the thread's event says why), pushed to their socket."""
    notification = Notification.objects.create(
        recipient=owner, kind=Notification.OWNER, conversation_id=entry.conversation_id, entry=entry, actor=by
    )
    payload = notification_payload(notification, text=entry.body[:200])
    realtime.agent_event_record(type="notification.created", agent_id=owner.pk, payload=dict(payload))
    return notification


def notification_target_send(*, entry: Entry, recipient: User) -> Notification:
    """A response target is about to be missed, or was (lifecycle/targets.py): the thread's event says which."""
    notification = Notification.objects.create(
        recipient=recipient, kind=Notification.TARGET, conversation_id=entry.conversation_id, entry=entry
    )
    payload = notification_payload(notification, text=entry.body[:200])
    realtime.agent_event_record(type="notification.created", agent_id=recipient.pk, payload=dict(payload))
    return notification


def notification_payload(notification: Notification, *, text: str = "") -> NotificationPayload:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "conversation": notification.conversation_id,
        "entry": notification.entry_id,
        "text": text or notification_text(notification),
        "url": f"/inbox/{notification.conversation_id}/"
        + (f"#entry-{notification.entry_id}" if notification.entry_id else ""),
        "unread": notification_unread_count(notification.recipient),
    }


def notification_text(notification: Notification) -> str:
    if notification.kind == Notification.OWNER:
        return notification.entry.body[:200] if notification.entry is not None else "A customer is now yours"
    if notification.kind == Notification.TARGET:
        return (
            notification.entry.body[:200]
            if notification.entry is not None
            else "A response target is at risk"
        )
    actor = notification.actor
    who = (actor.get_full_name() or actor.get_username()) if actor is not None else "Someone"
    body = notification.entry.body[:140] if notification.entry is not None else ""
    return f"{who} mentioned you: {body}"


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the agent's notifications read (these ids, or all of them); the top bar's count follows live."""
    with transaction.atomic():
        unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
        if ids is not None:
            unread = unread.filter(pk__in=ids)
        count = unread.update(read_at=timezone.now())
        if count:
            realtime.agent_event_record(
                type="notification.read",
                agent_id=user.pk,
                payload={"unread": notification_unread_count(user)},
            )
    return count
