"""Response targets (SLA policies): how long a thread may wait for an answer, its resolution, and a new owner.

A target applies to the threads of an inbox, a team or a lifecycle stage. When a customer writes, a timer starts
for the first response of the episode (or the next one) and for its resolution; when a contact gets a new owner,
one starts for the owner's first touch. Where several targets apply, the strictest of each kind runs and the
thread says which it beat. Time counts in the business hours of the thread's inbox and stops while the thread is
pending on the customer (or snoozed). A periodic job claims the timers that are due (SKIP LOCKED): at the admin's
share of the target the assignee is warned, halfway from there to the end the team's managers, and at the end the
target is missed: an event in the thread, a `sla.breached` domain event, and a leak until someone answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import ValidationError
from conversations.hours import WEEKDAYS, open_intervals, open_seconds_between
from conversations.models import AgentProfile, Conversation, Inbox, Team
from conversations.notifications import notification_target_send
from conversations.services import event_append
from events.services import event_publish
from lifecycle.models import ContactOwner, ContactStage, ResponseTarget, Stage, TargetTimer

MINUTES_FIELD = {
    TargetTimer.FIRST_RESPONSE: "first_response_minutes",
    TargetTimer.NEXT_RESPONSE: "next_response_minutes",
    TargetTimer.RESOLUTION: "resolution_minutes",
    TargetTimer.OWNER_TOUCH: "owner_touch_minutes",
}
METRIC_NAME = dict(TargetTimer.METRIC_CHOICES)
MAX_MINUTES = 60 * 24 * 90  # a target longer than 90 days of business time is a typo
HORIZON_DAYS = 400  # a deadline further than this in wall time never comes: the hours never open
LIVE = (TargetTimer.RUNNING, TargetTimer.PAUSED)
PAUSING = (Conversation.PENDING, Conversation.SNOOZED)


# --- business time ---------------------------------------------------------------------------------------
def hours_never_open(inbox: Inbox | None) -> bool:
    """A schedule with days but no hours on any of them (and no always-open default): a target never runs out."""
    schedule: dict[str, Any] = (inbox.business_hours or {}) if inbox is not None else {}
    return bool(schedule) and not any(schedule.get(day) for day in WEEKDAYS)


def business_deadline(inbox: Inbox | None, start: datetime, seconds: float) -> datetime | None:
    """The wall time at which `seconds` of the inbox's business time have passed from `start` (None: never)."""
    if seconds <= 0:
        return start
    if inbox is None:
        return start + timedelta(seconds=seconds)
    if hours_never_open(inbox):
        return None
    left, cursor = seconds, start
    while cursor < start + timedelta(days=HORIZON_DAYS):
        window_end = cursor + timedelta(days=14)
        for begin, end in open_intervals(inbox, cursor, window_end):
            length = (end - begin).total_seconds()
            if length >= left:
                return begin + timedelta(seconds=left)
            left -= length
        cursor = window_end
    return None


def _spent(timer: TargetTimer, at: datetime) -> float:
    if timer.state != TargetTimer.RUNNING or timer.running_since is None:
        return timer.spent_s
    ran = (
        open_seconds_between(timer.inbox, timer.running_since, at)
        if timer.inbox is not None
        else max(0.0, (at - timer.running_since).total_seconds())
    )
    return timer.spent_s + ran


def _schedule(timer: TargetTimer, inbox: Inbox | None, at: datetime, warn_percent: int) -> None:
    """Set when the running timer warns, escalates and runs out, from `at` and what it has spent."""
    warn_s = timer.allowed_s * warn_percent / 100
    escalate_s = (warn_s + timer.allowed_s) / 2
    timer.running_since = at
    timer.due_at = business_deadline(inbox, at, timer.allowed_s - timer.spent_s)
    timer.warn_at = business_deadline(inbox, at, warn_s - timer.spent_s) if timer.warned_at is None else None
    timer.escalate_at = (
        business_deadline(inbox, at, escalate_s - timer.spent_s) if timer.escalated_at is None else None
    )


# --- which target applies -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Applicable:
    target: ResponseTarget
    minutes: int
    beaten: tuple[str, ...]  # the names of the other targets of the same kind that apply, less strict


def target_applicable(*, conversation: Conversation, metric: str) -> Applicable | None:
    """The strictest target of this kind for the thread's inbox, team (its own, else its inbox's) and the
    contact's stage (ties: the oldest target)."""
    field = MINUTES_FIELD[metric]
    team_id = _team_id(conversation)
    scope = Q(team_id=team_id) if team_id else Q(pk__in=[])
    if conversation.last_inbound_inbox_id:
        scope |= Q(inbox_id=conversation.last_inbound_inbox_id)
    stage_id = (
        ContactStage.objects.filter(contact_id=conversation.contact_id)
        .values_list("stage_id", flat=True)
        .first()
    )
    if stage_id:
        scope |= Q(stage_id=stage_id)
    candidates = list(
        ResponseTarget.objects.filter(scope, **{f"{field}__isnull": False}).order_by(field, "pk")
    )
    if not candidates:
        return None
    best = candidates[0]
    return Applicable(best, int(getattr(best, field)), tuple(t.name for t in candidates[1:]))


def _team_id(conversation: Conversation) -> int | None:
    """The thread's team: the one it was handed to, else its inbox's."""
    if conversation.team_id:
        return conversation.team_id
    inbox = conversation.last_inbound_inbox
    return inbox.team_id if inbox is not None else None


# --- the timers' lifecycle ------------------------------------------------------------------------------------
def target_timer_start(
    *, conversation: Conversation, metric: str, at: datetime, agent: User | None = None, restart: bool = False
) -> TargetTimer | None:
    """Start the thread's timer of this kind (a live one stays, unless `restart`), if a target applies."""
    live = TargetTimer.objects.filter(conversation=conversation, metric=metric, state__in=LIVE).first()
    if live is not None:
        if not restart:
            return live
        _cancel(live, at)
    applicable = target_applicable(conversation=conversation, metric=metric)
    if applicable is None:
        return None
    inbox = conversation.last_inbound_inbox
    timer = TargetTimer(
        conversation=conversation,
        target=applicable.target,
        metric=metric,
        inbox=inbox,
        team_id=_team_id(conversation),
        agent=agent,
        allowed_s=applicable.minutes * 60,
        started_at=at,
        overlapping=", ".join(applicable.beaten)[:300],
    )
    if conversation.status in PAUSING:
        timer.state = TargetTimer.PAUSED
    else:
        _schedule(timer, inbox, at, applicable.target.warn_percent)
    timer.save()
    return timer


def _cancel(timer: TargetTimer, at: datetime) -> None:
    timer.state, timer.finished_at = TargetTimer.CANCELLED, at
    timer.due_at = timer.warn_at = timer.escalate_at = None
    timer.save()


def _finish(timer: TargetTimer, at: datetime, agent: User | None) -> None:
    spent = _spent(timer, at)
    timer.spent_s = spent
    timer.over_s = round(spent - timer.allowed_s, 3)
    timer.state, timer.finished_at, timer.running_since = TargetTimer.DONE, at, None
    timer.due_at = timer.warn_at = timer.escalate_at = None
    if agent is not None:
        timer.agent = agent
    timer.save()


def targets_on_customer_spoke(*, conversation: Conversation, episode_answered: bool, at: datetime) -> None:
    """The customer wrote or called: their answer is due (first of the episode, or next), and its resolution."""
    metric = TargetTimer.NEXT_RESPONSE if episode_answered else TargetTimer.FIRST_RESPONSE
    target_timer_start(conversation=conversation, metric=metric, at=at, agent=conversation.assignee)
    target_timer_start(
        conversation=conversation, metric=TargetTimer.RESOLUTION, at=at, agent=conversation.assignee
    )


def targets_on_reply(*, conversation: Conversation, author: User | None, at: datetime) -> None:
    """An agent answered the customer: the response timers stop; the owner's first touch too if it was them. The
    hub's own messages (a rule's auto-reply, the satisfaction question) answer nobody's question: no change."""
    if author is None:
        return
    metrics = [TargetTimer.FIRST_RESPONSE, TargetTimer.NEXT_RESPONSE]
    if (
        author is not None
        and ContactOwner.objects.filter(contact_id=conversation.contact_id, owner=author).exists()
    ):
        metrics.append(TargetTimer.OWNER_TOUCH)
    for timer in TargetTimer.objects.filter(
        conversation=conversation, metric__in=metrics, state__in=LIVE
    ).select_related("inbox"):
        _finish(timer, at, author)


def targets_on_status(*, conversation: Conversation, status: str, at: datetime) -> None:
    """Pending or snoozed pauses every target of the thread; open runs them again; resolved ends the resolution
    (and drops the response targets nobody answered: the thread is closed, the wait with it)."""
    live = list(
        TargetTimer.objects.filter(conversation=conversation, state__in=LIVE).select_related(
            "inbox", "target"
        )
    )
    for timer in live:
        if status == Conversation.RESOLVED:
            if timer.metric == TargetTimer.RESOLUTION:
                _finish(timer, at, conversation.assignee)
            elif timer.metric != TargetTimer.OWNER_TOUCH:
                _cancel(timer, at)
        elif status in PAUSING and timer.state == TargetTimer.RUNNING:
            timer.spent_s = _spent(timer, at)
            timer.state, timer.running_since = TargetTimer.PAUSED, None
            timer.due_at = timer.warn_at = timer.escalate_at = None
            timer.save()
        elif status == Conversation.OPEN and timer.state == TargetTimer.PAUSED:
            timer.state = TargetTimer.RUNNING
            _schedule(timer, timer.inbox, at, timer.target.warn_percent)
            timer.save()


def targets_on_owner(*, conversation: Conversation, owner: User | None, at: datetime) -> None:
    """A new owner's first touch is due (a contact left without an owner drops the wait)."""
    if owner is None:
        for timer in TargetTimer.objects.filter(
            conversation=conversation, metric=TargetTimer.OWNER_TOUCH, state__in=LIVE
        ):
            _cancel(timer, at)
        return
    target_timer_start(
        conversation=conversation, metric=TargetTimer.OWNER_TOUCH, at=at, agent=owner, restart=True
    )


# --- the periodic check ---------------------------------------------------------------------------------------
@dataclass
class CheckRun:
    warned: int = 0
    escalated: int = 0
    breached: int = 0


def targets_check(*, now: datetime | None = None, limit: int = 500) -> CheckRun:
    """Warn, escalate and call missed the timers whose moment has come. Each batch is claimed with SKIP LOCKED in
    the transaction that records what it did, so two workers never warn twice and a crash leaves it to the next."""
    now = now or timezone.now()
    run = CheckRun()
    with transaction.atomic():
        due = list(
            TargetTimer.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=TargetTimer.RUNNING)
            .filter(
                Q(warned_at__isnull=True, warn_at__lte=now)
                | Q(escalated_at__isnull=True, escalate_at__lte=now)
                | Q(breached_at__isnull=True, due_at__lte=now)
            )
            .select_related(
                "target", "inbox", "conversation__contact", "conversation__assignee", "conversation__team"
            )
            .order_by("due_at", "pk")[:limit]
        )
        for timer in due:
            if timer.breached_at is None and timer.due_at is not None and timer.due_at <= now:
                _breach(timer, now)
                run.breached += 1
            elif timer.escalated_at is None and timer.escalate_at is not None and timer.escalate_at <= now:
                _warn(timer, now, level="team_lead")
                run.escalated += 1
            else:
                _warn(timer, now, level="assignee")
                run.warned += 1
    return run


def _team_leads(team: Team | None) -> list[User]:
    if team is None:
        return []
    return [
        profile.user
        for profile in AgentProfile.objects.select_related("user").filter(
            teams=team, role__in=(AgentProfile.MANAGER, AgentProfile.ADMIN), user__is_active=True
        )
    ]


def _recipients(timer: TargetTimer, level: str) -> list[User]:
    """First the one who holds the wait (the assignee; the owner for an owner's touch), or the team's managers if
    nobody does; then the team's managers; at the miss, both."""
    thread = timer.conversation
    holder = timer.agent if timer.metric == TargetTimer.OWNER_TOUCH else thread.assignee
    team = thread.team or (timer.inbox.team if timer.inbox is not None else None)
    holders = [holder] if holder is not None and holder.is_active else []
    if level == "assignee":
        people = holders or _team_leads(team)
    elif level == "team_lead":
        people = _team_leads(team) or holders
    else:
        people = [*holders, *_team_leads(team)]
    return list({user.pk: user for user in people}.values())


def _minutes(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _warn(timer: TargetTimer, now: datetime, *, level: str) -> None:
    thread = timer.conversation
    left = timer.allowed_s - _spent(timer, now)
    if level == "assignee":
        timer.warned_at = now
    else:
        timer.warned_at = timer.warned_at or now
        timer.escalated_at = now
    timer.save(update_fields=["warned_at", "escalated_at"])
    recipients = _recipients(timer, level)
    text = (
        f"{METRIC_NAME[timer.metric]} due in {_minutes(left)} of business time "
        f"(target {timer.target.name}, {_minutes(timer.allowed_s)})"
        + (": the team lead is told" if level == "team_lead" else "")
    )
    entry = event_append(
        conversation=thread, event_type="sla.warned", body=text, data={"timer": timer.pk, "level": level}
    )
    for user in recipients:
        notification_target_send(entry=entry, recipient=user)
    event_publish(
        type="sla.warned",
        conversation_id=thread.pk,
        contact_id=thread.contact_id,
        payload={
            "target": timer.target_id,
            "metric": timer.metric,
            "level": level,
            "due_at": timer.due_at.isoformat() if timer.due_at else None,
            "notified": [user.pk for user in recipients],
        },
        at=now,
    )


def _breach(timer: TargetTimer, now: datetime) -> None:
    thread = timer.conversation
    timer.breached_at = now
    timer.warned_at = timer.warned_at or now
    timer.escalated_at = timer.escalated_at or now
    timer.save(update_fields=["breached_at", "warned_at", "escalated_at"])
    text = f"{METRIC_NAME[timer.metric]} target missed ({timer.target.name}, {_minutes(timer.allowed_s)})"
    entry = event_append(conversation=thread, event_type="sla.breached", body=text, data={"timer": timer.pk})
    recipients = _recipients(timer, "breach")
    for user in recipients:
        notification_target_send(entry=entry, recipient=user)
    event_publish(
        type="sla.breached",
        conversation_id=thread.pk,
        contact_id=thread.contact_id,
        payload={
            "target": timer.target_id,
            "metric": timer.metric,
            "due_at": timer.due_at.isoformat() if timer.due_at else now.isoformat(),
            "assignee": thread.assignee_id,
        },
        at=now,
    )


# --- what a thread shows -------------------------------------------------------------------------------------
def target_timers_live(*, conversation_id: int) -> list[TargetTimer]:
    """The thread's running and paused targets, the one due first first (a paused one last)."""
    timers = list(
        TargetTimer.objects.filter(conversation_id=conversation_id, state__in=LIVE).select_related(
            "target", "inbox"
        )
    )
    far = timezone.now() + timedelta(days=HORIZON_DAYS * 2)
    timers.sort(key=lambda t: (t.state != TargetTimer.RUNNING, t.due_at or far, t.pk))
    return timers


# --- the settings ------------------------------------------------------------------------------------------------
def response_target_save(
    *,
    target: ResponseTarget | None,
    name: str,
    scope: str,
    minutes: dict[str, int | None],
    warn_percent: int,
) -> ResponseTarget:
    """Create or change a target. `scope` is `inbox:<id>`, `team:<id>` or `stage:<id>`; minutes per kind, None off."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationError("A target needs a name of 1 to 80 characters.")
    clash = ResponseTarget.objects.filter(name__iexact=name)
    if target is not None:
        clash = clash.exclude(pk=target.pk)
    if clash.exists():
        raise ValidationError(f"Another target is already called {name!r}.")
    kind, _, raw_id = scope.partition(":")
    model: Any = {"inbox": Inbox, "team": Team, "stage": Stage}.get(kind)
    found = model.objects.filter(pk=int(raw_id)).first() if model is not None and raw_id.isdigit() else None
    if found is None:
        raise ValidationError("Pick the inbox, team or stage the target applies to.")
    for metric, value in minutes.items():
        if metric not in MINUTES_FIELD:
            raise ValidationError(f"No target kind {metric!r}.")
        if value is not None and not 1 <= value <= MAX_MINUTES:
            raise ValidationError(f"{METRIC_NAME[metric]}: 1 to {MAX_MINUTES} minutes, or empty for none.")
    if all(value is None for value in minutes.values()):
        raise ValidationError(
            "Set at least one of first response, next response, resolution or owner's touch."
        )
    if not 10 <= warn_percent <= 99:
        raise ValidationError("Warn between 10% and 99% of the target.")
    row = target or ResponseTarget()
    row.name, row.warn_percent = name, warn_percent
    row.inbox = found if kind == "inbox" else None
    row.team = found if kind == "team" else None
    row.stage = found if kind == "stage" else None
    for metric, value in minutes.items():
        setattr(row, MINUTES_FIELD[metric], value)
    row.save()
    return row


def response_target_delete(*, target: ResponseTarget) -> None:
    """Delete a target; its timers go with it (live ones stop warning at once)."""
    target.delete()


# --- the report ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportRow:
    label: str
    met: int
    breached: int
    late_avg_s: float | None  # how late the breached ones were, on average (business seconds)
    late_max_s: float | None

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def met_percent(self) -> int | None:
        return round(100 * self.met / self.total) if self.total else None


@dataclass(frozen=True)
class TargetsReport:
    by_target: list[ReportRow]
    by_team: list[ReportRow]
    by_agent: list[ReportRow]
    overdue_now: int  # live timers already past their target


def targets_report(
    *, start: datetime, end: datetime, metric: str = "", team_id: int | None = None
) -> TargetsReport:
    """Targets that ended in [start, end): per target, team and agent, how many were met and missed, and by how
    much. Three grouped counts over the finished-timer index, however many threads the period holds."""
    from django.db.models import Avg, Count, Max

    done = TargetTimer.objects.filter(state=TargetTimer.DONE, finished_at__gte=start, finished_at__lt=end)
    if metric in MINUTES_FIELD:
        done = done.filter(metric=metric)
    if team_id is not None:
        done = done.filter(team_id=team_id)
    late = Q(over_s__gt=0)
    measures = {
        "met": Count("pk", filter=~late),
        "breached": Count("pk", filter=late),
        "late_avg": Avg("over_s", filter=late),
        "late_max": Max("over_s", filter=late),
    }

    def grouped(key: str, label: Any) -> list[ReportRow]:
        rows = done.values(key).annotate(**measures).order_by(key)
        names = label({row[key] for row in rows if row[key] is not None})
        out = [
            ReportRow(
                names.get(row[key], "(none)") if row[key] is not None else "(none)",
                row["met"],
                row["breached"],
                row["late_avg"],
                row["late_max"],
            )
            for row in rows
        ]
        return sorted(out, key=lambda r: (-r.breached, r.label))

    def target_names(ids: set[int]) -> dict[int, str]:
        return dict(ResponseTarget.objects.filter(pk__in=ids).values_list("pk", "name"))

    def team_names(ids: set[int]) -> dict[int, str]:
        return dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))

    def agent_names(ids: set[int]) -> dict[int, str]:
        return {
            user.pk: str(user.get_full_name() or user.get_username())
            for user in User.objects.filter(pk__in=ids)
        }

    overdue = TargetTimer.objects.filter(state__in=LIVE, breached_at__isnull=False)
    if team_id is not None:
        overdue = overdue.filter(team_id=team_id)
    return TargetsReport(
        by_target=grouped("target_id", target_names),
        by_team=grouped("team_id", team_names),
        by_agent=grouped("agent_id", agent_names),
        overdue_now=overdue.count(),
    )
