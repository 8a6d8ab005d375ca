"""Reads. `conversation_visible_to` is the one rule of who sees what; every other selector builds on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Case, Exists, IntegerField, Max, Min, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Coalesce

from config.errors import NotFound
from contacts.models import AttributeDefinition, Contact, Label
from contacts.selectors import AttributeRow, ContactPanel
from contacts.services import contact_surviving
from conversations.models import (
    AgentProfile,
    Attachment,
    Conversation,
    ConversationInbox,
    Entry,
    Inbox,
    Notification,
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


def inboxes_sendable_by(author: UserLike | None) -> QuerySet[Inbox]:
    """The inboxes a message may go out from: an agent's, or, for the hub itself (`None`: a rule's reply, an
    automatic message), any."""
    return Inbox.objects.all() if author is None else inbox_visible_to(author)


def agent_can_see(user: UserLike | None, conversation: Conversation) -> bool:
    return conversation_visible_to(user).filter(pk=conversation.pk).exists()


# --- the inbox list ---------------------------------------------------------------------------------
VIEWS = ("all", "mine", "unassigned", "unanswered", "mentions", "owned")
STATUSES = ("open", "pending", "snoozed", "resolved", "all")
LIST_STATUSES = ("open", "pending", "snoozed", "resolved")


@dataclass(frozen=True)
class ListCursor:
    last_activity_at: datetime
    id: int
    rank: int | None = None  # the priority's rank, when the list is sorted by priority


SORTS = ("recent", "priority", "score")
# Filled at start by the lifecycle (lifecycle.apps), which keeps the lead scores: the SQL of a thread's customer's
# score now, so the list shows, sorts and filters by it without importing the app above.
LEAD_SCORE: list[Callable[[], Any]] = []


def _score_rank() -> Any:
    """Best lead first: the score, negated, as a whole number (no score ranks as 0)."""
    return Cast(Coalesce(LEAD_SCORE[0](), Value(0.0)) * Value(-1.0), IntegerField())


def _with_score(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return qs.annotate(score_now=LEAD_SCORE[0]()) if LEAD_SCORE else qs


PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def priority_rank() -> Case:
    return Case(
        *(When(priority=priority, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
        output_field=IntegerField(),
    )


CHANNELS = ("sms", "whatsapp", "voice", "email", "webchat")


@dataclass(frozen=True)
class ListFilters:
    """The narrower views of the list: by the thread's team, its customer's last channel, a customer label."""

    team_id: int | None = None
    channel: str = ""
    label_id: int | None = None
    priority: str = ""
    min_score: int | None = None  # the customer's lead score is at least this

    def __bool__(self) -> bool:
        return (
            self.team_id is not None
            or bool(self.channel)
            or self.label_id is not None
            or bool(self.priority)
            or self.min_score is not None
        )


def conversation_list(
    *,
    user: UserLike,
    view: str = "all",
    status: str = "open",
    inbox_id: int | None = None,
    filters: ListFilters | None = None,
    after: ListCursor | None = None,
    limit: int = 50,
    sort: str = "recent",
) -> list[Conversation]:
    """Threads for the inbox list, latest activity first, or by priority (urgent first) or lead score (best
    first), and then latest."""
    if sort == "score" and not LEAD_SCORE:
        sort = "recent"
    if sort in ("priority", "score"):
        ranked = _list_filtered(
            user=user, view=view, status=status, inbox_id=inbox_id, filters=filters or ListFilters()
        ).annotate(rank=priority_rank() if sort == "priority" else _score_rank())
        if after is not None and after.rank is not None:
            ranked = ranked.filter(
                Q(rank__gt=after.rank)
                | Q(rank=after.rank, last_activity_at__lt=after.last_activity_at)
                | Q(rank=after.rank, last_activity_at=after.last_activity_at, id__lt=after.id)
            )
        ordered = ranked.select_related("contact", "assignee", "last_inbound_inbox").order_by(
            "rank", "-last_activity_at", "-id"
        )
        return list(_with_score(ordered).prefetch_related("contact__identities")[:limit])
    if filters:
        qs = _list_filtered(user=user, view=view, status=status, inbox_id=inbox_id, filters=filters)
        if after is not None:
            qs = qs.filter(
                Q(last_activity_at__lt=after.last_activity_at)
                | Q(last_activity_at=after.last_activity_at, id__lt=after.id)
            )
    elif inbox_id is not None:
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
    qs = _with_score(qs.select_related("contact", "assignee", "last_inbound_inbox"))
    return list(qs.order_by("-last_activity_at", "-id").prefetch_related("contact__identities")[:limit])


COUNT_CAP = 1000


def conversation_view_counts(
    *,
    user: UserLike,
    status: str = "open",
    inbox_id: int | None = None,
    filters: ListFilters | None = None,
    cap: int = COUNT_CAP,
) -> dict[str, int]:
    """How many threads each view holds, counting no further than `cap` + 1 (shown as "1000+").

    One query for all the views: each capped count is a subquery of the one statement.
    """
    views: list[QuerySet[Any]]
    if filters:
        visible = conversation_visible_to(user)
        views = [
            _list_filtered(
                user=user, view=view, status=status, visible=visible, inbox_id=inbox_id, filters=filters
            )
            for view in VIEWS
        ]
    elif inbox_id is not None:
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
    inbox_id: int | None = None,
    filters: ListFilters | None = None,
) -> QuerySet[Conversation]:
    qs = conversation_visible_to(user) if visible is None else visible
    qs = qs.filter(blocked_at__isnull=True)  # a blocked sender's thread is in no view
    if inbox_id is not None:
        # Only an inbox the agent holds narrows anything; another team's inbox shows nothing.
        if not inbox_visible_to(user).filter(pk=inbox_id).exists():
            return Conversation.objects.none()
        qs = qs.filter(
            Exists(ConversationInbox.objects.filter(conversation=OuterRef("pk"), inbox_id=inbox_id))
        )
    if filters:
        if filters.priority:
            qs = qs.filter(priority=filters.priority)
        if filters.team_id is not None:
            qs = qs.filter(team_id=filters.team_id)
        if filters.channel:
            qs = qs.filter(last_inbound_channel=filters.channel)
        if filters.label_id is not None:
            qs = qs.filter(contact__labels__id=filters.label_id)
        if filters.min_score is not None and LEAD_SCORE:
            qs = qs.alias(score_min=LEAD_SCORE[0]()).filter(score_min__gte=filters.min_score)
    if status in LIST_STATUSES:
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
    elif view == "mentions":
        qs = qs.filter(Exists(_mentions_of(user, OuterRef("pk"))))
    elif view == "owned":  # the customers the agent owns (lifecycle.ContactOwner), whoever holds the thread
        qs = qs.filter(contact__ownership__owner_id=user.pk)
    return qs


def _inbox_links(user: UserLike, inbox_id: int) -> QuerySet[ConversationInbox]:
    """The links of one inbox. An agent who holds the inbox sees every thread in it; others see none."""
    if not inbox_visible_to(user).filter(pk=inbox_id).exists():
        return ConversationInbox.objects.none()
    return ConversationInbox.objects.filter(inbox_id=inbox_id)


def _links_in_view(
    links: QuerySet[ConversationInbox], *, user: UserLike, view: str, status: str
) -> QuerySet[ConversationInbox]:
    if status in LIST_STATUSES:
        links = links.filter(status=status)
    else:
        links = links.exclude(status__in=(ConversationInbox.MERGED, ConversationInbox.BLOCKED))
    if view == "mine":
        links = links.filter(assignee_id=user.pk)
    elif view == "unassigned":
        links = links.filter(assignee__isnull=True)
    elif view == "unanswered":
        links = links.filter(waiting=True)
    elif view == "mentions":
        links = links.filter(Exists(_mentions_of(user, OuterRef("conversation_id"))))
    elif view == "owned":
        links = links.filter(conversation__contact__ownership__owner_id=user.pk)
    return links


def _mentions_of(user: UserLike, conversation: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(
        recipient_id=user.pk, kind=Notification.MENTION, conversation=conversation
    )


# --- notifications ---------------------------------------------------------------------------------
def notification_list(*, user: UserLike, limit: int = 50) -> list[Notification]:
    """The agent's notifications, newest first, for threads they can still see."""
    return list(
        Notification.objects.filter(recipient_id=user.pk, conversation__in=conversation_visible_to(user))
        .select_related("actor", "entry", "conversation__contact")
        .order_by("-created_at", "-id")[:limit]
    )


def notification_unread_count(user: UserLike) -> int:
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()


# --- agents ----------------------------------------------------------------------------------------
def agents_for_conversation(conversation: Conversation) -> QuerySet[AgentProfile]:
    """The active agents who could take this thread: managers and admins, and agents of a team holding it."""
    holding = Inbox.objects.filter(conversation_links__conversation=conversation).values("team")
    return (
        AgentProfile.objects.filter(user__is_active=True)
        .filter(Q(role__in=(AgentProfile.MANAGER, AgentProfile.ADMIN)) | Q(teams__in=holding))
        .select_related("user")
        .distinct()
        .order_by("user__username")
    )


# --- the thread ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryCursor:
    created_at: datetime
    id: int


def entry_cursor_format(position: Entry | EntryCursor) -> str:
    """A position in a thread as pages and the API pass it around: `<ISO time>|<entry id>`."""
    pk = position.pk if isinstance(position, Entry) else position.id
    return f"{position.created_at.isoformat()}|{pk}"


def entry_cursor_parse(value: str) -> EntryCursor | None:
    when, _, pk = value.rpartition("|")
    try:
        return EntryCursor(datetime.fromisoformat(when), int(pk))
    except ValueError:
        return None


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


def entry_page_after(*, conversation: Conversation, after: EntryCursor, limit: int = 50) -> list[Entry]:
    """A page of the lifetime thread starting just after `after`, oldest first (scrolling back down)."""
    return list(
        Entry.objects.filter(conversation=conversation)
        .filter(Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id))
        .select_related("author", "inbox", "email")
        .prefetch_related("attachments")
        .order_by("created_at", "id")[:limit]
    )


@dataclass(frozen=True)
class EntryWindow:
    """The entries around one (a search hit, a date), and whether the thread goes on either side."""

    entries: list[Entry]
    has_older: bool
    has_newer: bool


def entry_window(*, conversation: Conversation, at: EntryCursor, size: int = 50) -> EntryWindow:
    """About `size` entries around the position `at` (the entry at `at` included), oldest first."""
    half = size // 2
    older = entry_page(
        conversation=conversation, before=EntryCursor(at.created_at, at.id + 1), limit=half + 1
    )
    # entry_page(before=at.id + 1) includes the entry at `at` itself and those before it.
    newer = entry_page_after(
        conversation=conversation, after=EntryCursor(at.created_at, at.id), limit=half + 1
    )
    has_older, has_newer = len(older) > half, len(newer) > half
    return EntryWindow(
        entries=older[-half:] + newer[:half],
        has_older=has_older,
        has_newer=has_newer,
    )


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


def contact_panel(*, contact: Contact) -> ContactPanel:
    """Everything the side panel shows of a customer, in a handful of queries (not one per entry)."""
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


def contact_get_visible(user: Any, contact_id: int) -> Contact:
    """A contact the user may see; a merged-away id answers with the surviving contact."""
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is not None:
        contact = contact_surviving(contact)
    if contact is None or not contact_visible_to(user).filter(pk=contact.pk).exists():
        raise NotFound("No such contact.")
    return contact
