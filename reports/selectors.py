"""Reads of the reports app: the performance report (an aggregate over episode facts), the history list, the
audit trail and the printable export."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.utils import timezone

from config import periods
from config.errors import ValidationError
from config.periods import Period
from conversations.models import Conversation, Entry, Inbox, Team
from conversations.selectors import (
    UserLike,
    agent_is_admin,
    agent_sees_everything,
    conversation_visible_to,
)
from reports.models import AuditLog, EpisodeMetrics

MAX_PERIOD_DAYS = 731
DIMENSIONS = ("channel", "inbox", "team", "agent")


# --- the period -------------------------------------------------------------------------------------
def period_parse(*, start: str = "", end: str = "", today: date | None = None) -> Period:
    """The performance report's period: the last 30 days by default, at most two years."""
    return periods.period_parse(
        start=start,
        end=end,
        today=today,
        default_days=30,
        max_days=MAX_PERIOD_DAYS,
        longest="two years",
    )


# --- the performance report -------------------------------------------------------------------------
@dataclass
class Figures:
    """Response times of a group of episodes, in seconds (None when nothing was measured)."""

    label: str = ""
    key: Any = None
    episodes: int = 0
    answered: int = 0
    first_response: float | None = None
    next_responses: int = 0
    next_response: float | None = None
    resolved: int = 0
    resolution: float | None = None
    ratings: int = 0
    satisfaction: float | None = None
    satisfied: int = 0

    @property
    def satisfied_share(self) -> float | None:
        return 100.0 * self.satisfied / self.ratings if self.ratings else None


@dataclass
class PerformanceReport:
    period: Period
    business_hours: bool
    overall: Figures
    groups: dict[str, list[Figures]]
    daily: list[tuple[date, Figures]]
    heatmap: list[list[int]] = field(default_factory=list)  # [weekday][hour], Monday first

    @property
    def heatmap_max(self) -> int:
        return max((max(row) for row in self.heatmap), default=0)


def performance_report(
    *, period: Period, business_hours: bool = True, filters: dict[str, int | str] | None = None
) -> PerformanceReport:
    """First response, next response, resolution and satisfaction over the episodes a customer opened in the
    period, overall, per channel, inbox, team and agent, per day, and the volume by weekday and hour.

    A handful of aggregates over `EpisodeMetrics` rows (their durations were computed when the facts were
    written), so the cost follows the number of episodes in the period, never the entries.
    """
    rows = EpisodeMetrics.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
    for name, value in (filters or {}).items():
        if name in DIMENSIONS and value not in ("", None):
            rows = rows.filter(**{name if name == "channel" else f"{name}_id": value})
    suffix = "_bh" if business_hours else ""
    aggregates = {
        "episodes": Count("pk"),
        "answered": Count("first_response_s"),
        "first_response": Avg(f"first_response{suffix}_s"),
        "next_count": Sum("next_responses"),
        "next_total": Sum(f"next_response{suffix}_total_s"),
        "resolved": Count("resolution_s"),
        "resolution": Avg(f"resolution{suffix}_s"),
        "ratings": Count("rating"),
        "satisfaction": Avg("rating"),
        "satisfied": Count("pk", filter=Q(rating__gte=4)),
    }
    overall = _figures(rows.aggregate(**aggregates))
    groups: dict[str, list[Figures]] = {}
    for dimension in DIMENSIONS:
        column = dimension if dimension == "channel" else f"{dimension}_id"
        found = [
            _figures(row, key=row[column])
            for row in rows.values(column).annotate(**aggregates).order_by(column)
        ]
        labels = _labels(dimension, [f.key for f in found])
        for figures in found:
            figures.label = labels.get(figures.key, "—")
        groups[dimension] = sorted(found, key=lambda f: (-f.episodes, f.label))
    by_day: dict[date, Figures] = {
        row["day"]: _figures(dict(row))
        for row in rows.annotate(day=TruncDate("opened_at", tzinfo=periods.report_zone()))
        .values("day")
        .annotate(**aggregates)
        .order_by("day")
    }
    daily = [(day, by_day.get(day, Figures())) for day in period.dates]
    heatmap = [[0] * 24 for _ in range(7)]
    for row in rows.values("opened_weekday", "opened_hour").annotate(n=Count("pk")).order_by():
        heatmap[row["opened_weekday"] % 7][row["opened_hour"] % 24] = row["n"]
    return PerformanceReport(
        period=period,
        business_hours=business_hours,
        overall=overall,
        groups=groups,
        daily=daily,
        heatmap=heatmap,
    )


def _figures(row: dict[str, Any], key: Any = None) -> Figures:
    next_count = int(row["next_count"] or 0)
    return Figures(
        key=key,
        episodes=row["episodes"],
        answered=row["answered"],
        first_response=row["first_response"],
        next_responses=next_count,
        next_response=(row["next_total"] or 0.0) / next_count if next_count else None,
        resolved=row["resolved"],
        resolution=row["resolution"],
        ratings=row["ratings"],
        satisfaction=float(row["satisfaction"]) if row["satisfaction"] is not None else None,
        satisfied=row["satisfied"],
    )


def _labels(dimension: str, keys: Iterable[Any]) -> dict[Any, str]:
    wanted = [k for k in keys if k not in (None, "")]
    if dimension == "channel":
        return {k: dict(Entry.CHANNEL_CHOICES).get(k, k) for k in wanted}
    if dimension == "inbox":
        return dict(Inbox.objects.filter(pk__in=wanted).values_list("pk", "name"))
    if dimension == "team":
        return dict(Team.objects.filter(pk__in=wanted).values_list("pk", "name"))
    return {
        user.pk: user.get_full_name() or user.get_username() for user in User.objects.filter(pk__in=wanted)
    }


def performance_filter_choices() -> dict[str, list[tuple[Any, str]]]:
    return {
        "channel": [(value, label) for value, label in Entry.CHANNEL_CHOICES],
        "inbox": list(Inbox.objects.order_by("name").values_list("pk", "name")),
        "team": list(Team.objects.order_by("name").values_list("pk", "name")),
        "agent": [
            (user.pk, user.get_full_name() or user.get_username())
            for user in User.objects.filter(agent__isnull=False).order_by("username")
        ],
    }


# --- history ----------------------------------------------------------------------------------------
HISTORY_PAGE = 50


def history_conversations(
    *, user: UserLike, filters: dict[str, Any], limit: int | None = HISTORY_PAGE
) -> QuerySet[Conversation]:
    """Every lifetime thread the user may see (managers: all), newest activity first, filtered by the agent
    who worked it (assigned, or wrote in it), a channel it used, when it was active, and a lifecycle stage."""
    qs = conversation_visible_to(user).filter(contact__merged_into__isnull=True)
    start, end = filters.get("start", ""), filters.get("end", "")
    if start or end:
        period = period_parse(start=start, end=end)
        qs = qs.filter(last_activity_at__lt=period.end)
        if start:
            qs = qs.filter(last_activity_at__gte=period.start)
    agent = str(filters.get("agent", ""))
    if agent.isdigit():
        wrote = Entry.objects.filter(conversation=OuterRef("pk"), author_id=int(agent))
        qs = qs.filter(Q(assignee_id=int(agent)) | Exists(wrote))
    channel = str(filters.get("channel", ""))
    if channel:
        if channel not in dict(Entry.CHANNEL_CHOICES):
            raise ValidationError(f"Unknown channel {channel!r}.")
        qs = qs.filter(Exists(Entry.objects.filter(conversation=OuterRef("pk"), channel=channel)))
    stage = str(filters.get("stage", ""))
    if stage:
        qs = history_stage_filter(qs, stage)
    qs = qs.select_related("contact", "assignee").order_by("-last_activity_at", "-id")
    return qs[:limit] if limit is not None else qs


def history_stage_filter(qs: QuerySet[Conversation], stage: str) -> QuerySet[Conversation]:
    """The threads whose contact is now at `stage` (a stage key, as the lifecycle app names it)."""
    return qs.filter(contact__lifecycle__stage__key=stage)


# --- the audit trail --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditItem:
    at: datetime
    actor: str
    action: str
    description: str
    conversation_id: int | None
    # A settings change: (field, before, after), secrets already masked when recorded.
    changes: tuple[tuple[str, str, str], ...] = ()


AUDITED_KINDS = Q(kind=Entry.EVENT) | Q(direction=Entry.OUTBOUND) | Q(kind=Entry.NOTE)


def audit_trail(
    *,
    user: UserLike,
    conversation: Conversation | None = None,
    actor_id: int | None = None,
    before: datetime | None = None,
    limit: int = 100,
    settings_only: bool = False,
) -> list[AuditItem]:
    """Who did what: the agents' entries in the threads (replies, notes, assignments, stage and status changes,
    merges, exports) and the audit log's rows (exports, logins; settings changes for admins), newest first."""
    entries = Entry.objects.filter(AUDITED_KINDS, author__isnull=False).select_related("author")
    logs = AuditLog.objects.select_related("actor")
    if not agent_is_admin(user):
        logs = logs.exclude(action__in=(AuditLog.SETTINGS, AuditLog.SECRET_REVEAL))
    if settings_only:
        entries = entries.none()
        logs = logs.filter(action__in=(AuditLog.SETTINGS, AuditLog.SECRET_REVEAL))
    if conversation is not None:
        entries = entries.filter(conversation=conversation)
        logs = logs.filter(conversation=conversation)
    elif not agent_sees_everything(user):
        entries = entries.filter(conversation__in=conversation_visible_to(user))
        logs = logs.filter(actor_id=getattr(user, "pk", None))
    if actor_id is not None:
        entries = entries.filter(author_id=actor_id)
        logs = logs.filter(actor_id=actor_id)
    if before is not None:
        entries = entries.filter(created_at__lt=before)
        logs = logs.filter(at__lt=before)
    items = [
        AuditItem(
            at=entry.created_at,
            actor=entry.author_name,
            action=_entry_action(entry),
            description=entry.body[:300] if entry.kind == Entry.EVENT else _entry_summary(entry),
            conversation_id=entry.conversation_id,
        )
        for entry in entries.order_by("-created_at", "-id")[:limit]
    ]
    items += [
        AuditItem(
            at=log.at,
            actor=(log.actor.get_full_name() or log.actor.get_username()) if log.actor else "",
            action=log.action,
            description=log.description,
            conversation_id=log.conversation_id,
            changes=_log_changes(log),
        )
        for log in logs.order_by("-at", "-id")[:limit]
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _log_changes(log: AuditLog) -> tuple[tuple[str, str, str], ...]:
    changes = (log.data or {}).get("changes") if log.action == AuditLog.SETTINGS else None
    if not isinstance(changes, dict):
        return ()
    return tuple(
        (name.replace("_", " "), _value_text(pair.get("before")), _value_text(pair.get("after")))
        for name, pair in changes.items()
        if isinstance(pair, dict)
    )


def _value_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False) if value else "—"
    return str(value)


def _entry_action(entry: Entry) -> str:
    if entry.kind == Entry.EVENT:
        return entry.event_type or "event"
    if entry.kind == Entry.NOTE:
        return "note"
    return "call" if entry.kind == Entry.CALL else "reply"


def _entry_summary(entry: Entry) -> str:
    channel = entry.get_channel_display() if entry.channel else ""
    text = " ".join(entry.body.split())
    what = {"note": "Private note", "call": "Call"}.get(entry.kind, f"Reply by {channel}".strip())
    return f"{what}: {text[:200]}" if text else what


# --- the printable export ---------------------------------------------------------------------------
EXPORT_CHUNK = 500


def export_document(
    *, conversation_ids: list[int], by: User, progress: Callable[[int, int], None] | None = None
) -> str:
    """The threads as one printable HTML page, read in chunks so a long history never sits in memory twice."""
    conversations = Conversation.objects.select_related("contact").in_bulk(conversation_ids)
    total = Entry.objects.filter(conversation_id__in=conversation_ids).count()
    done = 0
    parts: list[str] = []
    for conversation_id in conversation_ids:
        conversation = conversations[conversation_id]
        entries = Entry.objects.filter(conversation=conversation).select_related("author", "inbox")
        chunks: list[str] = []
        last: tuple[datetime, int] | None = None
        while True:
            page = entries.order_by("created_at", "id")
            if last is not None:
                page = page.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1]))
            batch = list(page[:EXPORT_CHUNK])
            if not batch:
                break
            chunks.append(render_to_string("reports/_export_entries.html", {"entries": batch}))
            last = (batch[-1].created_at, batch[-1].pk)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        parts.append(
            render_to_string(
                "reports/_export_thread.html", {"c": conversation, "entries_html": "".join(chunks)}
            )
        )
    if progress is not None:
        progress(total, total)
    return render_to_string(
        "reports/export.html",
        {
            "threads_html": "".join(parts),
            "count": len(conversation_ids),
            "by": by,
            "at": timezone.now(),
            "standalone": True,
        },
    )


def thread_entry_count(conversation: Conversation) -> int:
    return Entry.objects.filter(conversation=conversation).count()
