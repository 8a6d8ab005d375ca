"""Reads. `conversation_visible_to` is the one rule of who sees what; every other selector builds on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Exists, Max, OuterRef, Q, QuerySet

from contacts.models import Contact
from conversations.models import (
    AgentProfile,
    Attachment,
    Conversation,
    ConversationInbox,
    Entry,
    Inbox,
    RealtimeEvent,
)

UserLike = AbstractBaseUser | AnonymousUser


def agent_profile(user: UserLike | None) -> AgentProfile | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return getattr(user, "agent", None)


def agent_sees_everything(user: UserLike | None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    profile = agent_profile(user)
    return bool(profile and profile.sees_everything)


def agent_is_admin(user: UserLike | None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    profile = agent_profile(user)
    return bool(getattr(user, "is_superuser", False) or (profile and profile.role == AgentProfile.ADMIN))


def conversation_visible_to(user: UserLike | None) -> QuerySet[Conversation]:
    """The threads an agent may see: those with an inbox of one of their teams; managers and admins see all."""
    if agent_sees_everything(user):
        return Conversation.objects.all()
    profile = agent_profile(user)
    if profile is None:
        return Conversation.objects.none()
    # The agent's few inbox ids, read first: one index probe per thread instead of a four-table join.
    inbox_ids = list(Inbox.objects.filter(team__agents=profile).values_list("pk", flat=True))
    if not inbox_ids:
        return Conversation.objects.none()
    held = ConversationInbox.objects.filter(conversation=OuterRef("pk"), inbox_id__in=inbox_ids)
    return Conversation.objects.filter(Exists(held))


def contact_visible_to(user: UserLike | None) -> QuerySet[Contact]:
    return Contact.objects.filter(conversation__in=conversation_visible_to(user))


def entry_visible_to(user: UserLike | None) -> QuerySet[Entry]:
    return Entry.objects.filter(conversation__in=conversation_visible_to(user))


def attachment_visible_to(user: UserLike | None) -> QuerySet[Attachment]:
    return Attachment.objects.filter(entry__conversation__in=conversation_visible_to(user))


def inbox_visible_to(user: UserLike | None) -> QuerySet[Inbox]:
    if agent_sees_everything(user):
        return Inbox.objects.all()
    profile = agent_profile(user)
    if profile is None:
        return Inbox.objects.none()
    return Inbox.objects.filter(team__agents=profile).distinct()


def agent_can_see(user: UserLike | None, conversation: Conversation) -> bool:
    return conversation_visible_to(user).filter(pk=conversation.pk).exists()


# --- the inbox list ---------------------------------------------------------------------------------
VIEWS = ("all", "mine", "unassigned", "unanswered")
STATUSES = ("open", "pending", "resolved", "all")


@dataclass(frozen=True)
class ListCursor:
    last_activity_at: datetime
    id: int


def conversation_list(
    *,
    user: UserLike,
    view: str = "all",
    status: str = "open",
    inbox_id: int | None = None,
    after: ListCursor | None = None,
    limit: int = 50,
) -> list[Conversation]:
    """Threads for the inbox list, latest activity first."""
    if inbox_id is not None:
        # One inbox: its links carry the list fields, so the page is read from one index of the links.
        links = _links_in_view(_inbox_links(user, inbox_id), user=user, view=view, status=status)
        if after is not None:
            links = links.filter(
                Q(last_activity_at__lt=after.last_activity_at)
                | Q(last_activity_at=after.last_activity_at, conversation_id__lt=after.id)
            )
        page = links.order_by("-last_activity_at", "-conversation_id").values("conversation_id")[:limit]
        qs = Conversation.objects.filter(pk__in=page)
    else:
        qs = _list_filtered(user=user, view=view, status=status)
        if after is not None:
            qs = qs.filter(
                Q(last_activity_at__lt=after.last_activity_at)
                | Q(last_activity_at=after.last_activity_at, id__lt=after.id)
            )
    qs = qs.select_related("contact", "assignee", "last_inbound_inbox")
    return list(qs.order_by("-last_activity_at", "-id").prefetch_related("contact__identities")[:limit])


COUNT_CAP = 1000


def conversation_view_counts(
    *, user: UserLike, status: str = "open", inbox_id: int | None = None, cap: int = COUNT_CAP
) -> dict[str, int]:
    """How many threads each view holds, counting no further than `cap` + 1 (shown as "1000+").

    One query for all the views: each capped count is a subquery of the one statement.
    """
    views: list[QuerySet[Any]]
    if inbox_id is not None:
        links = _inbox_links(user, inbox_id)
        views = [_links_in_view(links, user=user, view=view, status=status) for view in VIEWS]
    else:
        visible = conversation_visible_to(user)  # the agent's inboxes are read once, not once per view
        views = [_list_filtered(user=user, view=view, status=status, visible=visible) for view in VIEWS]
    try:
        parts = [qs.values("pk")[: cap + 1].query.sql_with_params() for qs in views]
    except EmptyResultSet:  # an agent with no inbox sees nothing
        return dict.fromkeys(VIEWS, 0)
    # The SQL is what the ORM compiled, with its parameters kept apart: nothing of the request is in it.
    select = ", ".join(f"(SELECT COUNT(*) FROM ({sql}) AS v{n})" for n, (sql, _) in enumerate(parts))  # noqa: S608
    with connections[views[0].db].cursor() as cursor:
        cursor.execute(f"SELECT {select}", [param for _, params in parts for param in params])
        row = cursor.fetchone()
    return dict(zip(VIEWS, (int(count) for count in row), strict=True))


def _list_filtered(
    *,
    user: UserLike,
    view: str,
    status: str,
    visible: QuerySet[Conversation] | None = None,
) -> QuerySet[Conversation]:
    qs = conversation_visible_to(user) if visible is None else visible
    if status in ("open", "pending", "resolved"):
        qs = qs.filter(status=status)
    if status in ("resolved", "all"):
        # A merged-away customer's old thread is empty (its entries live in the survivor's) and resolved
        # for good, so only the views that show resolved threads need to leave it out.
        qs = qs.filter(contact__merged_into__isnull=True)
    if view == "mine":
        qs = qs.filter(assignee_id=user.pk)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif view == "unanswered":
        qs = qs.filter(waiting_since__isnull=False)
    return qs


def _inbox_links(user: UserLike, inbox_id: int) -> QuerySet[ConversationInbox]:
    """The links of one inbox. An agent who holds the inbox sees every thread in it; others see none."""
    if not inbox_visible_to(user).filter(pk=inbox_id).exists():
        return ConversationInbox.objects.none()
    return ConversationInbox.objects.filter(inbox_id=inbox_id)


def _links_in_view(
    links: QuerySet[ConversationInbox], *, user: UserLike, view: str, status: str
) -> QuerySet[ConversationInbox]:
    if status in ("open", "pending", "resolved"):
        links = links.filter(status=status)
    else:
        links = links.exclude(status=ConversationInbox.MERGED)
    if view == "mine":
        links = links.filter(assignee_id=user.pk)
    elif view == "unassigned":
        links = links.filter(assignee__isnull=True)
    elif view == "unanswered":
        links = links.filter(waiting=True)
    return links


# --- the thread ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryCursor:
    created_at: datetime
    id: int


def entry_page(
    *, conversation: Conversation, before: EntryCursor | None = None, limit: int = 50
) -> list[Entry]:
    """A page of the lifetime thread ending just before `before` (the newest page without it), oldest first."""
    qs = Entry.objects.filter(conversation=conversation)
    if before is not None:
        qs = qs.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    newest_first = list(
        qs.select_related("author", "inbox", "email")
        .prefetch_related("attachments")
        .order_by("-created_at", "-id")[:limit]
    )
    newest_first.reverse()
    return newest_first


def realtime_latest_seq() -> int:
    return int(RealtimeEvent.objects.aggregate(latest=Max("id"))["latest"] or 0)


def realtime_log_covers(after: int) -> bool:
    """Whether the event log still holds everything after `after` (older events are pruned)."""
    oldest = RealtimeEvent.objects.order_by("id").values_list("id", flat=True).first()
    return oldest is None or after >= oldest - 1


def realtime_events_since(*, user: UserLike, after: int, overlap_s: float, limit: int) -> list[RealtimeEvent]:
    """The logged events an agent may see after `after`.

    With `overlap_s`, also those logged up to that long before event `after`: an event numbered lower
    may have committed after the page read the log's position.
    """
    from datetime import timedelta

    window = Q(id__gt=after)
    if overlap_s > 0:
        marker = (
            RealtimeEvent.objects.filter(id__lte=after)
            .order_by("-id")
            .values_list("created_at", flat=True)
            .first()
        )
        if marker is not None:
            window |= Q(created_at__gte=marker - timedelta(seconds=overlap_s), id__lte=after)
    visible = Q(conversation__in=conversation_visible_to(user)) | Q(agent_id=user.pk)
    return list(RealtimeEvent.objects.filter(window).filter(visible).order_by("id")[:limit])
