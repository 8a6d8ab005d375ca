"""Reads of the lifecycle: the funnel report (SQL aggregates over `StageChange` and the contact stage rows)
and the live list of leaks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connections
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from config import periods
from config.periods import Period
from conversations.hours import open_seconds_between
from conversations.models import Conversation, Entry, Inbox, Team
from conversations.realtime import Frame
from conversations.selectors import conversation_visible_to
from lifecycle import defaults
from lifecycle.models import (
    ContactStage,
    LeadScore,
    LeadScoreWeight,
    LeadSignal,
    Leak,
    LeakSettings,
    Stage,
    StageChange,
    TargetTimer,
)
from lifecycle.scores import HOT, SILENCE, SILENT, WARM, decay_factor, lead_scores_of

MAX_PERIOD_DAYS = 3 * 366
DEFAULT_PERIOD_DAYS = 90


def stages_ordered() -> list[Stage]:
    return list(Stage.objects.all())


def contact_stage_of(contact_id: int) -> ContactStage | None:
    return ContactStage.objects.select_related("stage").filter(contact_id=contact_id).first()


# --- the period ------------------------------------------------------------------------------------
def period_parse(*, start: str = "", end: str = "", today: date | None = None) -> Period:
    """The funnel's period: the last 90 days by default, at most three years."""
    return periods.period_parse(
        start=start,
        end=end,
        today=today,
        default_days=DEFAULT_PERIOD_DAYS,
        max_days=MAX_PERIOD_DAYS,
        longest="three years",
    )


# --- the funnel report -----------------------------------------------------------------------------
class Median(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass
class StageRow:
    stage: Stage
    now: int = 0  # contacts in the stage now
    entered: int = 0  # moves into the stage during the period
    reached: int = 0  # contacts active in the period who got this far along the main line (or further)
    conversion: float | None = None  # of those who reached this stage, the share who reached the next
    median_seconds: float | None = None  # median time spent in the stage, for stays that began in the period

    @property
    def median_text(self) -> str:
        return duration_text(self.median_seconds)


@dataclass
class BreakdownRow:
    label: str
    reached: list[int]

    @property
    def steps(self) -> list[tuple[int, float | None]]:
        """Each stage's count with the conversion from the stage before it."""
        out: list[tuple[int, float | None]] = []
        for n, count in enumerate(self.reached):
            before = self.reached[n - 1] if n else 0
            out.append((count, (count / before) if n and before else None))
        return out


@dataclass
class CohortRow:
    month: date
    size: int
    reached: list[int]


@dataclass
class FunnelReport:
    period: Period
    main: list[StageRow]
    side: list[StageRow]
    no_stage_now: int
    buckets: list[date] = field(default_factory=list)
    bucket_size: str = "day"
    trend: dict[int, list[int]] = field(default_factory=dict)  # stage id -> moves into it per bucket
    breakdowns: dict[str, list[BreakdownRow]] = field(default_factory=dict)
    cohorts: list[CohortRow] = field(default_factory=list)

    @property
    def total_now(self) -> int:
        return self.no_stage_now + sum(row.now for row in self.main + self.side)


BREAKDOWNS = ("first channel", "first inbox", "campaign", "lead score", "team", "agent")


def funnel_report(*, period: Period) -> FunnelReport:
    stages = stages_ordered()
    main = [StageRow(stage) for stage in stages if stage.on_main_line]
    side = [StageRow(stage) for stage in stages if not stage.on_main_line]
    rows = {row.stage.pk: row for row in main + side}

    no_stage = 0
    for stage_id, n in ContactStage.objects.values_list("stage_id").annotate(n=Count("id")).order_by():
        if stage_id in rows:
            rows[stage_id].now = n
        else:
            no_stage += n

    in_period = StageChange.objects.filter(at__gte=period.start, at__lt=period.end)
    for stage_id, seconds in _medians(in_period).items():
        if stage_id in rows:
            rows[stage_id].median_seconds = seconds

    main_stages = [row.stage for row in main]
    positions = [stage.position for stage in main_stages]
    breakdowns: dict[str, list[BreakdownRow]] = {name: [] for name in BREAKDOWNS}
    if positions:
        for dimension, value, reached in _reached(period, main_stages):
            if dimension == "all":
                for row, count in zip(main, reached, strict=True):
                    row.reached = count
            else:
                breakdowns[dimension].append(BreakdownRow(value, reached))
        for name in BREAKDOWNS:
            _label(name, breakdowns[name])
    for n, row in enumerate(main[:-1]):
        row.conversion = (main[n + 1].reached / row.reached) if row.reached else None

    report = FunnelReport(period=period, main=main, side=side, no_stage_now=no_stage, breakdowns=breakdowns)
    _trend(report, in_period)
    for row in main + side:
        row.entered = sum(report.trend.get(row.stage.pk, []))  # the trend's buckets cover the whole period
    report.cohorts = _cohorts(period, positions)
    return report


def _medians(changes: QuerySet[StageChange]) -> dict[int, float]:
    closed = changes.filter(left_at__isnull=False)
    if connections[closed.db].vendor == "postgresql":
        found = (
            closed.values_list("to_stage_id")
            .annotate(median=Median(F("left_at") - F("at"), output_field=DurationField()))
            .order_by()
        )
        return {stage_id: median.total_seconds() for stage_id, median in found if median is not None}
    # SQLite (the embedded demo) has no percentile: its few rows are sorted here.
    stays: dict[int, list[float]] = {}
    for stage_id, began, left in closed.values_list("to_stage_id", "at", "left_at"):
        if left is not None:
            stays.setdefault(stage_id, []).append((left - began).total_seconds())
    out = {}
    for stage_id, values in stays.items():
        values.sort()
        middle = len(values) // 2
        out[stage_id] = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return out


def _reached(period: Period, main: list[Stage]) -> list[tuple[str, str, list[int]]]:
    """For the contacts who moved along the main line in the period: how many got at least as far as each
    main-line stage, overall and by first channel, first inbox, team (of the first inbox) and agent (the
    thread's assignee).

    One pass: the furthest position per contact (read from the stage ids, no join per move), then one count
    per combination of the four dimensions and that position: a few thousand rows at most, summed here
    into the five groupings. (Five groupings in SQL meant five passes over every contact of the period.)
    """
    positions = [stage.position for stage in main]
    furthest = (
        StageChange.objects.filter(
            at__gte=period.start, at__lt=period.end, to_stage_id__in=[stage.pk for stage in main]
        )
        .values("contact_id")
        .annotate(
            furthest=Max(Case(*(When(to_stage_id=stage.pk, then=Value(stage.position)) for stage in main)))
        )
        .order_by()
    )
    inner_sql, inner_params = furthest.query.sql_with_params()
    # Which sources bring leads that convert: the campaign a lead came from, and the band of their score now.
    now = timezone.now()
    silent = LeadScoreWeight.objects.filter(signal=SILENT).values_list("points", flat=True).first() or 0
    score = "(sc.mass * %s + sc.fixed + CASE WHEN sc.last_heard_at < %s THEN %s ELSE 0 END)"
    sql = (
        f"WITH best AS ({inner_sql}) "  # noqa: S608 - compiled by the ORM; values stay parameters
        # The band as a number: a narrow key keeps the grouping one hash of a few thousand rows.
        "SELECT cs.first_channel, cs.first_inbox_id, inbox.team_id, thread.assignee_id, best.furthest, camp.signal, "
        f"CASE WHEN sc.contact_id IS NULL THEN 0 WHEN {score} >= %s THEN 3 WHEN {score} >= %s THEN 2 ELSE 1 END, "
        "COUNT(*) "
        f"FROM best LEFT JOIN {ContactStage._meta.db_table} cs ON cs.contact_id = best.contact_id "
        f"LEFT JOIN {Inbox._meta.db_table} inbox ON inbox.id = cs.first_inbox_id "
        f"LEFT JOIN {Conversation._meta.db_table} thread ON thread.contact_id = best.contact_id "
        f"LEFT JOIN {LeadSignal._meta.db_table} camp ON camp.contact_id = best.contact_id "
        "AND camp.signal LIKE 'source_campaign:%%' "
        f"LEFT JOIN {LeadScore._meta.db_table} sc ON sc.contact_id = best.contact_id "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )
    scored: list[Any] = [decay_factor(now), now - SILENCE, silent]
    with connections[furthest.db].cursor() as cursor:
        cursor.execute(sql, [*inner_params, *scored, HOT, *scored, WARM])
        combinations = cursor.fetchall()
    bands = {0: "", 1: "cold", 2: "warm", 3: "hot"}
    sums: dict[tuple[str, str], list[int]] = {("all", ""): [0] * len(positions)}
    for channel, inbox_id, team_id, assignee_id, position, campaign, band, n in combinations:
        for key in (
            ("all", ""),
            ("first channel", channel or ""),
            ("first inbox", "" if inbox_id is None else str(inbox_id)),
            ("campaign", (campaign or "").partition(":")[2]),
            ("lead score", bands.get(band, "")),
            ("team", "" if team_id is None else str(team_id)),
            ("agent", "" if assignee_id is None else str(assignee_id)),
        ):
            reached = sums.setdefault(key, [0] * len(positions))
            for i, at_least in enumerate(positions):
                if position is not None and position >= at_least:
                    reached[i] += n
    return [(dimension, value, reached) for (dimension, value), reached in sums.items()]


def _label(dimension: str, rows: list[BreakdownRow]) -> None:
    ids = [int(row.label) for row in rows if row.label.isdigit()]
    names: dict[str, str] = {}
    if dimension == "first inbox":
        names = {str(pk): name for pk, name in Inbox.objects.filter(pk__in=ids).values_list("pk", "name")}
    elif dimension == "team":
        names = {str(pk): name for pk, name in Team.objects.filter(pk__in=ids).values_list("pk", "name")}
    elif dimension == "agent":
        names = {
            str(user.pk): user.get_full_name() or user.username for user in User.objects.filter(pk__in=ids)
        }
    elif dimension == "first channel":
        names = {"api": "API event", "manual": "added by hand"}
    elif dimension == "lead score":
        names = {
            "hot": f"hot (★ {HOT}+)",
            "warm": f"warm (★ {WARM} to {HOT - 1})",
            "cold": f"cold (under ★ {WARM})",
        }
    empty = {
        "first channel": "unknown",
        "first inbox": "none",
        "campaign": "no campaign",
        "lead score": "no score",
        "team": "no team",
        "agent": "unassigned",
    }
    for row in rows:
        row.label = names.get(row.label, row.label) if row.label else empty[dimension]
    rows.sort(key=lambda row: (-row.reached[0] if row.reached else 0, row.label))


def _trend(report: FunnelReport, changes: QuerySet[StageChange]) -> None:
    days = report.period.days
    trunc: type[TruncDay | TruncWeek | TruncMonth]
    if days <= 31:
        trunc, size, step = TruncDay, "day", timedelta(days=1)
    elif days <= 366:
        trunc, size, step = TruncWeek, "week", timedelta(weeks=1)
    else:
        trunc, size, step = TruncMonth, "month", timedelta(days=31)
    counts: dict[tuple[date, int], int] = {}
    for bucket, stage_id, n in (
        changes.annotate(bucket=trunc("at"))
        .values_list("bucket", "to_stage_id")
        .annotate(n=Count("*"))  # not Count("id"): the period index alone answers it
        .order_by()
    ):
        day = bucket.date() if isinstance(bucket, datetime) else bucket
        counts[(day, stage_id)] = counts.get((day, stage_id), 0) + n
    first = report.period.first_day
    if size == "week":
        first -= timedelta(days=first.weekday())
    elif size == "month":
        first = first.replace(day=1)
    buckets: list[date] = []
    day = first
    while day <= report.period.last_day:
        buckets.append(day)
        day = (day + step).replace(day=1) if size == "month" else day + step
    report.buckets, report.bucket_size = buckets, size
    report.trend = {
        row.stage.pk: [counts.get((bucket, row.stage.pk), 0) for bucket in buckets]
        for row in report.main + report.side
    }


def _cohorts(period: Period, positions: list[int]) -> list[CohortRow]:
    """Contacts by the month of their first contact, and how far along the main line each cohort got so far."""
    reached = {
        f"r{n}": Count("id", filter=Q(furthest_stage__position__gte=position))
        for n, position in enumerate(positions)
    }
    found = (
        ContactStage.objects.filter(first_contact_at__gte=period.start, first_contact_at__lt=period.end)
        .annotate(month=TruncMonth("first_contact_at"))
        .values("month")
        .annotate(size=Count("id"), **reached)
        .order_by("month")
    )
    out = []
    for row in found:
        values: dict[str, Any] = dict(row)
        month = values["month"].date() if isinstance(values["month"], datetime) else values["month"]
        out.append(CohortRow(month, values["size"], [values[f"r{n}"] for n in range(len(positions))]))
    return out


# --- leaks -----------------------------------------------------------------------------------------
def leak_settings() -> LeakSettings:
    row = LeakSettings.objects.order_by("pk").first()
    return row if row is not None else LeakSettings.objects.create()


@dataclass(frozen=True)
class LeakItem:
    conversation_id: int
    contact_name: str
    kind: str
    since: datetime
    reason: str
    now: datetime
    assignee_id: int | None = None
    assignee_name: str = ""
    inbox_id: int | None = None
    team_name: str = ""
    score: int | None = None  # the customer's lead score now (filled by leaks_listed)

    @property
    def kind_label(self) -> str:
        return dict(Leak.KIND_CHOICES)[self.kind]

    @property
    def age_seconds(self) -> float:
        return (self.now - self.since).total_seconds()

    @property
    def age_text(self) -> str:
        return duration_text(self.age_seconds)

    def frame(self) -> Frame:
        return {
            "seq": 0,
            "type": "leak.detected",
            "conversation": self.conversation_id,
            "alert": {
                "kind": self.kind,
                "title": self.kind_label,
                "text": f"{self.contact_name}: {self.reason}",
                "url": f"/inbox/{self.conversation_id}/",
            },
        }


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min" if hours < 10 else f"{hours} h"
    return f"{hours // 24} days"


def leaks_current(
    *, now: datetime | None = None, visible: QuerySet[Conversation] | None = None
) -> list[LeakItem]:
    """Who is falling through right now, oldest first."""
    now = now or timezone.now()
    thresholds = leak_settings()
    leaks = (
        _unanswered(now, thresholds)
        + _stale_leads(now, thresholds)
        + _no_followup(now, thresholds)
        + _targets_missed(now)
    )
    if visible is not None:
        allowed = set(
            visible.filter(pk__in={leak.conversation_id for leak in leaks}).values_list("pk", flat=True)
        )
        leaks = [leak for leak in leaks if leak.conversation_id in allowed]
    leaks.sort(key=lambda leak: (leak.since, leak.conversation_id))
    return leaks


def _name(user: User | None) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else ""


def _unanswered(now: datetime, thresholds: LeakSettings) -> list[LeakItem]:
    """Threads waiting for the business, from the entry that started the wait: a message past its inbox's
    target, or a missed call or voicemail not called back in time (business time, in the inbox's hours)."""
    waits = (
        Entry.objects.filter(
            conversation__waiting_since__isnull=False,
            conversation__contact__merged_into__isnull=True,
            created_at=F("conversation__waiting_since"),
            direction=Entry.INBOUND,
            kind__in=(Entry.MESSAGE, Entry.CALL),
        )
        .select_related(
            "conversation__contact",
            "conversation__assignee",
            "conversation__last_inbound_inbox__team",
            "inbox__team",
        )
        .prefetch_related("conversation__contact__identities")
        .order_by("conversation_id", "id")
    )
    out: list[LeakItem] = []
    seen: set[int] = set()
    for entry in waits:
        if entry.conversation_id in seen:
            continue
        seen.add(entry.conversation_id)
        thread = entry.conversation
        inbox = entry.inbox or thread.last_inbound_inbox
        is_call = entry.kind == Entry.CALL and entry.data.get("call_outcome") in ("missed", "voicemail")
        limit_s = 60 * (
            thresholds.callback_minutes if is_call else (inbox.target_response_minutes if inbox else 60)
        )
        since = thread.waiting_since or entry.created_at
        waited = open_seconds_between(inbox, since, now) if inbox else (now - since).total_seconds()
        if waited <= limit_s:
            continue
        what = str(entry.data.get("call_outcome", "")) if is_call else ""
        reason = (
            f"{'voicemail' if what == 'voicemail' else 'missed call'} not called back "
            f"({duration_text(waited)} of business time; target {duration_text(limit_s)})"
            if is_call
            else f"message unanswered for {duration_text(waited)} of business time (target {duration_text(limit_s)})"
        )
        out.append(_item(thread, inbox, Leak.CALLBACK if is_call else Leak.UNANSWERED, since, reason, now))
    return out


def _targets_missed(now: datetime) -> list[LeakItem]:
    """Threads past a response target nobody has met yet (lifecycle/targets.py): a leak until someone does."""
    timers = (
        TargetTimer.objects.filter(
            state__in=(TargetTimer.RUNNING, TargetTimer.PAUSED), breached_at__isnull=False
        )
        .select_related("target", "inbox__team", "conversation__contact", "conversation__assignee")
        .order_by("conversation_id", "breached_at")
    )
    out: list[LeakItem] = []
    seen: set[int] = set()
    for timer in timers:
        if timer.conversation_id in seen:
            continue
        seen.add(timer.conversation_id)
        reason = f"{timer.get_metric_display().lower()} target missed ({timer.target.name})"
        since = timer.breached_at or now
        out.append(_item(timer.conversation, timer.inbox, Leak.TARGET_MISSED, since, reason, now))
    return out


def _last_touch() -> Subquery:
    return Subquery(
        Entry.objects.filter(
            conversation__contact_id=OuterRef("contact_id"), kind__in=(Entry.MESSAGE, Entry.CALL)
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )


def _staged(keys: tuple[str, ...]) -> QuerySet[ContactStage]:
    return (
        ContactStage.objects.filter(
            stage__key__in=keys, contact__merged_into__isnull=True, contact__conversation__isnull=False
        )
        .select_related(
            "stage",
            "contact",
            "contact__conversation__assignee",
            "contact__conversation__last_inbound_inbox__team",
        )
        .prefetch_related("contact__identities")
    )


def _item(
    thread: Conversation, inbox: Inbox | None, kind: str, since: datetime, reason: str, now: datetime
) -> LeakItem:
    return LeakItem(
        conversation_id=thread.pk,
        contact_name=thread.contact.display_name,
        kind=kind,
        since=since,
        reason=reason,
        now=now,
        assignee_id=thread.assignee_id,
        assignee_name=_name(thread.assignee),
        inbox_id=inbox.pk if inbox else None,
        team_name=inbox.team.name if inbox and inbox.team else "",
    )


def _stale_leads(now: datetime, thresholds: LeakSettings) -> list[LeakItem]:
    """Leads and opportunities nobody has messaged or called (nor heard from) for N days."""
    cutoff = now - timedelta(days=thresholds.stale_lead_days)
    rows = (
        _staged((defaults.LEAD, defaults.OPPORTUNITY))
        .annotate(touched=Greatest(Coalesce(_last_touch(), F("entered_at")), F("entered_at")))
        .filter(touched__lt=cutoff)
    )
    return [
        _item(
            row.contact.conversation,
            row.contact.conversation.last_inbound_inbox,
            Leak.STALE_LEAD,
            row.touched,
            f"{row.stage.name.lower() if row.stage else 'lead'} with no message or call for "
            f"{duration_text((now - row.touched).total_seconds())}",
            now,
        )
        for row in rows
    ]


def _no_followup(now: datetime, thresholds: LeakSettings) -> list[LeakItem]:
    """New customers nobody has written to or called since they converted, N days on."""
    cutoff = now - timedelta(days=thresholds.customer_followup_days)
    followed = Entry.objects.filter(
        conversation__contact_id=OuterRef("contact_id"),
        direction=Entry.OUTBOUND,
        kind__in=(Entry.MESSAGE, Entry.CALL),
        created_at__gte=OuterRef("entered_at"),
    )
    rows = _staged((defaults.CUSTOMER,)).filter(entered_at__lt=cutoff).exclude(Exists(followed))
    return [
        _item(
            row.contact.conversation,
            row.contact.conversation.last_inbound_inbox,
            Leak.NO_FOLLOWUP,
            row.entered_at or now,
            f"became a customer {duration_text((now - (row.entered_at or now)).total_seconds())} ago "
            "and has not heard from us since",
            now,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class LeakAlert:
    """An open leak as the top bar's tray shows it; live ones arrive as `leak.detected` frames."""

    conversation_id: int
    kind: str
    title: str
    text: str


def leak_alerts_for(*, user: User, limit: int = 20) -> list[LeakAlert]:
    """The open leaks on this agent's threads and on the unassigned threads they can see, newest first."""
    rows = (
        Leak.objects.filter(resolved_at__isnull=True, conversation__in=conversation_visible_to(user))
        .filter(Q(conversation__assignee=user) | Q(conversation__assignee__isnull=True))
        .select_related("conversation__contact")
        .order_by("-detected_at", "-pk")[:limit]
    )
    labels = dict(Leak.KIND_CHOICES)
    return [
        LeakAlert(
            conversation_id=row.conversation_id,
            kind=row.kind,
            title=labels[row.kind],
            text=f"{row.conversation.contact.display_name}: {labels[row.kind].lower()}",
        )
        for row in rows
    ]


LEAK_SORTS = {
    "newest": ("Newest first", lambda leak: (-leak.since.timestamp(), -leak.conversation_id)),
    "oldest": ("Oldest first", lambda leak: (leak.since.timestamp(), leak.conversation_id)),
    "reason": ("By reason", lambda leak: (leak.kind_label, -leak.since.timestamp())),
    "assignee": ("By assignee", lambda leak: (leak.assignee_name or "~", -leak.since.timestamp())),
    "score": (
        "Best leads first",
        lambda leak: (leak.score is None, -(leak.score or 0), -leak.since.timestamp()),
    ),
}


@dataclass(frozen=True)
class LeakList:
    """The leaks page: the rows shown, how many there are per reason (before the reason filter), the filters."""

    items: list[LeakItem]
    total: int
    counts: list[tuple[str, str, int]]  # (kind, label, count) for every reason
    teams: list[str]
    agents: list[tuple[int, str]]


def _scored(leaks: list[LeakItem]) -> list[LeakItem]:
    """The leaks with their customers' lead scores: two statements, however many leaks."""
    contacts = dict(
        Conversation.objects.filter(pk__in={leak.conversation_id for leak in leaks}).values_list(
            "pk", "contact_id"
        )
    )
    scores = lead_scores_of(contacts.values())
    return [replace(leak, score=scores.get(contacts.get(leak.conversation_id, 0))) for leak in leaks]


def leaks_listed(
    leaks: list[LeakItem], *, sort: str = "newest", kind: str = "", team: str = "", assignee: str = ""
) -> LeakList:
    """Sort and filter the current leaks; counts per reason follow the team and agent filters."""
    teams = sorted({leak.team_name for leak in leaks if leak.team_name})
    agents = sorted(
        {(leak.assignee_id, leak.assignee_name) for leak in leaks if leak.assignee_id}, key=lambda a: a[1]
    )
    scoped = [leak for leak in leaks if not team or leak.team_name == team]
    if assignee == "none":
        scoped = [leak for leak in scoped if leak.assignee_id is None]
    elif assignee.isdigit():
        scoped = [leak for leak in scoped if leak.assignee_id == int(assignee)]
    counts = [(k, label, sum(1 for leak in scoped if leak.kind == k)) for k, label in Leak.KIND_CHOICES]
    shown = _scored([leak for leak in scoped if not kind or leak.kind == kind])
    _, key = LEAK_SORTS.get(sort, LEAK_SORTS["newest"])
    return LeakList(
        items=sorted(shown, key=key),
        total=len(scoped),
        counts=counts,
        teams=teams,
        agents=[(pk, name) for pk, name in agents if pk is not None],
    )
