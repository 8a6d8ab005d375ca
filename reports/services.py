"""Writes of the reports app: episode facts, follow-ups, satisfaction surveys, the audit log and exports."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from config.enqueue import enqueue_on_commit
from config.errors import HubError, PermissionDenied, ValidationError
from contacts.models import Contact
from conversations.hours import next_open_at, open_seconds_between
from conversations.models import Conversation, Entry, Episode, Inbox
from conversations.selectors import agent_can_see, agent_sees_everything
from conversations.services import conversation_get_or_create, event_append
from events.services import event_publish
from reports.models import (
    AuditLog,
    EpisodeMetrics,
    ExportJob,
    SatisfactionResponse,
    SatisfactionSurvey,
    ScheduledFollowUp,
)

logger = logging.getLogger("hub.reports")

FOLLOWUP_BODY_MAX = 1600
FOLLOWUP_HORIZON = timedelta(days=366)
THANK_YOU = "thank-you"
EXPORT_MAX_THREADS = (
    1000  # one background export; more is a filter to narrow  # the reason a suggested follow-up carries
)


# --- episode facts: written with the episode's own, read by the performance report ------------------
def episode_opened(*, episode: Episode, entry: Entry) -> EpisodeMetrics:
    """The episode's first customer message: where it came in, when (in the inbox's week), for whom."""
    at = episode.first_inbound_at or entry.created_at
    inbox = entry.inbox
    local = at.astimezone(_zone(inbox))
    metrics, _ = EpisodeMetrics.objects.update_or_create(
        episode=episode,
        defaults={
            "opened_at": at,
            "opened_weekday": local.weekday(),
            "opened_hour": local.hour,
            "inbox": inbox,
            "channel": entry.channel,
            "team": episode.team or (inbox.team if inbox else None),
        },
    )
    return metrics


def episode_responded(
    *, episode: Episode, entry: Entry, waited_since: datetime | None, first: bool
) -> EpisodeMetrics | None:
    """An agent answered: the first response of the episode, or a next one after the customer waited."""
    metrics = EpisodeMetrics.objects.select_related("inbox").filter(episode=episode).first()
    if metrics is None:
        return None  # an episode no customer opened (an agent's reopen): nothing to answer yet
    answered = entry.created_at
    if first:
        start = episode.first_inbound_at or episode.opened_at
        metrics.first_response_s, metrics.first_response_bh_s = _durations(metrics.inbox, start, answered)
        metrics.agent_id = entry.author_id or metrics.agent_id
        conversation_team = Conversation.objects.filter(pk=episode.conversation_id).values_list(
            "team_id", flat=True
        )
        metrics.team_id = conversation_team.first() or metrics.team_id
    elif waited_since is not None:
        clock, business = _durations(metrics.inbox, waited_since, answered)
        metrics.next_responses += 1
        metrics.next_response_total_s += clock
        metrics.next_response_bh_total_s += business
    metrics.save()
    return metrics


def episode_resolved(*, episode: Episode, by: User | None) -> None:
    """Resolution time, then the satisfaction question (after commit, in business hours)."""
    metrics = EpisodeMetrics.objects.select_related("inbox").filter(episode=episode).first()
    if metrics is None or episode.resolved_at is None:
        return
    start = episode.first_inbound_at or episode.opened_at
    metrics.resolution_s, metrics.resolution_bh_s = _durations(metrics.inbox, start, episode.resolved_at)
    if metrics.agent_id is None:
        metrics.agent_id = episode.assignee_id or (by.pk if by is not None else None)
    metrics.save(update_fields=["resolution_s", "resolution_bh_s", "agent"])
    satisfaction_survey_schedule(episode=episode, by=by)


def _durations(inbox: Inbox | None, start: datetime, end: datetime) -> tuple[float, float]:
    clock = max(0.0, (end - start).total_seconds())
    return clock, (open_seconds_between(inbox, start, end) if inbox is not None else clock)


def _zone(inbox: Inbox | None) -> ZoneInfo:
    try:
        return ZoneInfo((inbox.time_zone if inbox else "") or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- follow-ups -------------------------------------------------------------------------------------
def followup_schedule(
    *,
    conversation: Conversation,
    by: User | None,
    kind: str,
    due_at: datetime,
    body: str,
    channel: str = "",
    inbox: Inbox | None = None,
    cancel_on_reply: bool = True,
) -> ScheduledFollowUp:
    """A message on the customer's channel, or a reminder to oneself, at `due_at`; refused in the past. `by`
    None is the hub (a rule): it schedules reminders to the thread's team, never messages in its own name."""
    from channels_adapters.outbound import reply_default_channel

    if kind not in dict(ScheduledFollowUp.KIND_CHOICES):
        raise ValidationError("A follow-up is a message to the customer or a reminder to you.")
    text = body.strip()
    if not text:
        raise ValidationError("Write what the follow-up should say.")
    if len(text) > FOLLOWUP_BODY_MAX:
        raise ValidationError(f"A follow-up can be at most {FOLLOWUP_BODY_MAX} characters.")
    now = timezone.now()
    if timezone.is_naive(due_at):
        raise ValidationError("Give the follow-up's time with its time zone.")
    if due_at <= now:
        raise ValidationError(
            f"{due_at:%Y-%m-%d %H:%M} UTC is in the past; pick a time from now on to schedule a follow-up."
        )
    if due_at - now > FOLLOWUP_HORIZON:
        raise ValidationError("A follow-up can be scheduled at most a year ahead.")
    if by is None and kind == ScheduledFollowUp.MESSAGE:
        raise ValidationError("A rule schedules reminders; a message follow-up is an agent's.")
    if by is not None and not agent_can_see(by, conversation):
        raise PermissionDenied("You cannot see this conversation.")
    if kind == ScheduledFollowUp.MESSAGE:
        channel = channel or reply_default_channel(conversation)
        if channel not in (Entry.SMS, Entry.WHATSAPP, Entry.EMAIL):
            raise ValidationError(
                f"Follow-up messages go by SMS, WhatsApp or email, not {channel or 'nothing'}."
            )
    else:
        channel, inbox = "", None
    with transaction.atomic():
        followup = ScheduledFollowUp.objects.create(
            conversation=conversation,
            created_by=by,
            kind=kind,
            channel=channel,
            inbox=inbox,
            body=text,
            due_at=due_at,
            cancel_on_reply=cancel_on_reply,
        )
        what = (
            f"a follow-up {_channel_label(channel)} message"
            if kind == ScheduledFollowUp.MESSAGE
            else "a reminder"
        )
        followup.entry = event_append(
            conversation=conversation,
            event_type="followup.scheduled",
            body=f"{_name(by)} scheduled {what} for {_when(due_at)}"
            + (" (cancelled if the customer writes first)" if cancel_on_reply else ""),
            by=by,
            data={"followup": followup.pk, "kind": kind, "due_at": due_at.isoformat()},
        )
        followup.save(update_fields=["entry"])
    return followup


def followup_cancel(
    *, followup: ScheduledFollowUp, by: User | None, reason: str, skip_locked: bool = False
) -> bool:
    """Cancel a follow-up still waiting (scheduled or suggested); False when it was sent or cancelled already.

    `skip_locked`: for a caller that already holds the thread's lock (the inbound path): a follow-up beat
    holds is being sent at this moment, and waiting for it would wait for that thread lock (a deadlock).
    """
    with transaction.atomic():
        locked = (
            ScheduledFollowUp.objects.select_for_update(skip_locked=skip_locked)
            .filter(pk=followup.pk, state__in=(ScheduledFollowUp.SCHEDULED, ScheduledFollowUp.SUGGESTED))
            .first()
        )
        if locked is None:
            return False
        what = "suggested message" if locked.state == ScheduledFollowUp.SUGGESTED else "follow-up"
        locked.state = ScheduledFollowUp.CANCELLED
        locked.reason = reason
        locked.done_at = timezone.now()
        locked.save(update_fields=["state", "reason", "done_at"])
        when = f" of {_when(locked.due_at)}" if locked.due_at else ""
        event_append(
            conversation=locked.conversation,
            event_type="followup.cancelled",
            body=f"The {what}{when} was cancelled: {reason}",
            by=by,
            data={"followup": locked.pk},
        )
    return True


def followups_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send what is due (beat calls it every minute), each follow-up claimed as `_due_claim_and_send` does."""
    due = ScheduledFollowUp.objects.filter(
        state=ScheduledFollowUp.SCHEDULED, due_at__lte=now or timezone.now()
    )
    return _due_claim_and_send(
        due.select_related("conversation", "created_by", "inbox"), _followup_send, limit
    )


def _due_claim_and_send(due: QuerySet[Any], send: Callable[[Any], None], limit: int) -> int:
    """Claim due rows one at a time with SKIP LOCKED, in the transaction that sends each, so two beats (or a
    beat and a slow worker) never send one row twice and a process killed midway leaves it due."""
    done = 0
    for _ in range(limit):
        with transaction.atomic():
            row = due.select_for_update(skip_locked=True, of=("self",)).order_by("due_at", "id").first()
            if row is None:
                break
            send(row)
            done += 1
    return done


def _followup_send(followup: ScheduledFollowUp) -> None:
    """Inside the claiming transaction: the message queued (delivered after commit) or the reminder raised."""
    from channels_adapters.whatsapp_templates import hub_message_send

    customer_wrote = Entry.objects.filter(
        conversation=followup.conversation,
        direction=Entry.INBOUND,
        kind__in=(Entry.MESSAGE, Entry.CALL),
        created_at__gt=followup.created_at,
    )
    if followup.cancel_on_reply and customer_wrote.exists():
        # They wrote while this row was held (the inbound path could not wait for it to cancel it).
        followup_cancel(followup=followup, by=None, reason="the customer wrote first")
        return
    followup.done_at = timezone.now()
    author = followup.created_by
    if followup.kind == ScheduledFollowUp.REMINDER:
        followup.entry = event_append(
            conversation=followup.conversation,
            event_type="followup.reminder",
            body=f"Reminder for {_name(author) if author else 'the team'}: {followup.body}",
            by=author,
            data={"followup": followup.pk, "for": author.pk if author else None},
        )
        followup.state = ScheduledFollowUp.SENT
    elif author is None or not author.is_active:
        followup.state, followup.reason = ScheduledFollowUp.FAILED, "the agent who scheduled it has left"
    else:
        try:
            with transaction.atomic():
                followup.entry = hub_message_send(
                    conversation=followup.conversation,
                    body=followup.body,
                    author=author,
                    purpose="follow_up",
                    channel=followup.channel or None,
                    inbox=followup.inbox,
                )
            followup.state = ScheduledFollowUp.SENT
        except HubError as error:
            followup.state, followup.reason = ScheduledFollowUp.FAILED, error.message
    followup.save(update_fields=["state", "reason", "done_at", "entry"])
    if followup.state == ScheduledFollowUp.FAILED:
        event_append(
            conversation=followup.conversation,
            event_type="followup.failed",
            body=f"The follow-up of {_when(followup.due_at)} could not be sent: {followup.reason}",
            data={"followup": followup.pk},
        )


def followup_thank_you_prompt(*, contact: Contact) -> ScheduledFollowUp | None:
    """A new customer: suggest a thank-you, from the template, on their preferred channel, in the thread.

    The lifecycle stage rule calls this when a contact becomes a customer; an agent sends or dismisses it.
    """
    from channels_adapters.outbound import reply_default_channel

    conversation = conversation_get_or_create(contact=contact)
    if ScheduledFollowUp.objects.filter(
        conversation=conversation, state=ScheduledFollowUp.SUGGESTED, reason=THANK_YOU
    ).exists():
        return None  # one suggestion at a time
    channel = reply_default_channel(conversation)
    text = settings.FOLLOWUP_THANK_YOU_TEMPLATE.format(first_name=contact.first_name or "there").strip()
    with transaction.atomic():
        followup = ScheduledFollowUp.objects.create(
            conversation=conversation,
            kind=ScheduledFollowUp.MESSAGE,
            channel=channel,
            body=text,
            state=ScheduledFollowUp.SUGGESTED,
            reason=THANK_YOU,
        )
        followup.entry = event_append(
            conversation=conversation,
            event_type="followup.suggested",
            body=f"New customer: a thank-you {_channel_label(channel)} message is suggested for an agent to send",
            data={"followup": followup.pk},
        )
        followup.save(update_fields=["entry"])
    return followup


def followup_suggestion_send(*, followup: ScheduledFollowUp, by: User, body: str = "") -> Entry:
    """An agent sends a suggested message (as suggested, or as they edited it) through the outbound path."""
    from channels_adapters.outbound import message_send

    with transaction.atomic():
        locked = (
            ScheduledFollowUp.objects.select_for_update()
            .select_related("conversation")
            .filter(pk=followup.pk, state=ScheduledFollowUp.SUGGESTED)
            .first()
        )
        if locked is None:
            raise ValidationError("This suggestion was sent or dismissed already.")
        entry = message_send(
            conversation=locked.conversation,
            body=body or locked.body,
            author=by,
            channel=locked.channel or None,
            inbox=locked.inbox,
        )
        locked.state, locked.entry, locked.created_by, locked.done_at = (
            ScheduledFollowUp.SENT,
            entry,
            by,
            timezone.now(),
        )
        locked.save(update_fields=["state", "entry", "created_by", "done_at"])
    return entry


# --- satisfaction -----------------------------------------------------------------------------------
_RATING_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_RATING = re.compile(
    r"^\s*(?P<value>[1-5]|one|two|three|four|five)\s*"
    r"(?:stars?|/\s*5|out\s+of\s+(?:5|five))?\s*[!.]*\s*$",
    re.IGNORECASE,
)


def satisfaction_rating_parse(text: str) -> int | None:
    """A 1-to-5 answer: "4", "4 stars", "5!", "4/5", "five". "7", "0" or a sentence is no rating."""
    match = _RATING.match(text or "")
    if match is None:
        return None
    value = match.group("value").lower()
    return _RATING_WORDS.get(value) or int(value)


def satisfaction_survey_pending(*, conversation: Conversation) -> SatisfactionSurvey | None:
    """The question the customer may be answering: asked, recently, and the thread still resolved."""
    if conversation.status != Conversation.RESOLVED:
        return None
    since = timezone.now() - timedelta(hours=settings.SATISFACTION_ANSWER_WINDOW_H)
    return (
        SatisfactionSurvey.objects.filter(
            conversation=conversation, state=SatisfactionSurvey.ASKED, asked_at__gte=since
        )
        .order_by("-asked_at")
        .first()
    )


def satisfaction_rating_pending(*, conversation: Conversation, body: str) -> int | None:
    """The inbound path asks, before recording a customer's message: is it the answer to a pending question?

    A rating is recorded without reopening the thread; anything else is an ordinary message that reopens it.
    """
    rating = satisfaction_rating_parse(body)
    if rating is None:
        return None
    return rating if satisfaction_survey_pending(conversation=conversation) is not None else None


def customer_message_recorded(*, entry: Entry, rating: int | None = None) -> None:
    """After a customer's message is in the thread: follow-ups waiting on their silence are cancelled, and
    a rating answers the pending question (an ordinary message closes it unanswered)."""
    with transaction.atomic():
        _customer_message_recorded(entry=entry, rating=rating)


def _customer_message_recorded(*, entry: Entry, rating: int | None) -> None:
    conversation = entry.conversation
    waiting = ScheduledFollowUp.objects.filter(
        conversation=conversation,
        state=ScheduledFollowUp.SCHEDULED,
        cancel_on_reply=True,
        created_at__lt=entry.created_at,
    )
    for followup in waiting:
        followup_cancel(followup=followup, by=None, reason="the customer wrote first", skip_locked=True)
    survey = (
        SatisfactionSurvey.objects.select_for_update()
        .filter(conversation=conversation, state=SatisfactionSurvey.ASKED)
        .order_by("-asked_at")
        .first()
    )
    if survey is None:
        return
    if rating is None:
        survey.state, survey.reason = SatisfactionSurvey.CLOSED, "the customer wrote something else"
        survey.save(update_fields=["state", "reason"])
        return
    SatisfactionResponse.objects.create(
        survey=survey,
        episode_id=survey.episode_id,
        rating=rating,
        entry=entry,
        channel=entry.channel,
        answered_at=entry.created_at,
    )
    survey.state = SatisfactionSurvey.ANSWERED
    survey.save(update_fields=["state"])
    EpisodeMetrics.objects.filter(episode_id=survey.episode_id).update(rating=rating)
    event_append(
        conversation=conversation,
        event_type="satisfaction.answered",
        body=f"The customer rated the conversation {rating} out of 5",
        data={"episode": survey.episode_id, "rating": rating},
        created_at=entry.created_at,
    )
    event_publish(
        type="satisfaction.rated",
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        payload={"rating": rating, "episode": survey.episode_id},
        at=entry.created_at,
        thread_locked=True,  # event_append has just locked the thread
    )


def satisfaction_survey_schedule(*, episode: Episode, by: User | None) -> SatisfactionSurvey | None:
    """After a resolution: the question is due now, or when the inbox next opens; sent after commit."""
    from reports import tasks

    if not settings.SATISFACTION_SURVEY_ENABLED or episode.first_inbound_at is None:
        return None
    if SatisfactionSurvey.objects.filter(episode=episode).exists():
        return None
    last = (
        Entry.objects.filter(episode=episode, direction=Entry.INBOUND, kind__in=(Entry.MESSAGE, Entry.CALL))
        .select_related("inbox")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is None:
        return None
    channel = Entry.SMS if last.channel == Entry.VOICE else last.channel  # a caller is asked by text
    now = timezone.now()
    survey = SatisfactionSurvey.objects.create(
        episode=episode,
        conversation_id=episode.conversation_id,
        asked_by=by or episode.assignee,
        channel=channel,
        inbox=last.inbox,
        due_at=next_open_at(last.inbox, now) if last.inbox is not None else now,
    )
    if survey.due_at <= now:
        enqueue_on_commit(tasks.send_due_followups)
    return survey


def surveys_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Ask the questions that are due, each claimed as `_due_claim_and_send` does."""
    due = SatisfactionSurvey.objects.filter(
        state=SatisfactionSurvey.SCHEDULED, due_at__lte=now or timezone.now()
    )
    return _due_claim_and_send(
        due.select_related("conversation__contact", "inbox", "asked_by"), _survey_send, limit
    )


def _survey_send(survey: SatisfactionSurvey) -> None:
    from channels_adapters.whatsapp_templates import hub_message_send

    conversation = survey.conversation
    reason = ""
    if conversation.status != Conversation.RESOLVED:
        reason = "the conversation was reopened before the question went out"
    elif survey.asked_by is None:
        reason = "nobody handled it, so there is nobody to rate"
    elif survey.channel not in (Entry.SMS, Entry.WHATSAPP, Entry.EMAIL):
        reason = f"questions are not asked on {survey.channel or 'this channel'}"
    if not reason:
        try:
            with transaction.atomic():
                # The hub asks, not the agent who resolved: no one's reply, no one's first response.
                survey.question = hub_message_send(
                    conversation=conversation,
                    body=settings.SATISFACTION_QUESTION,
                    author=None,
                    purpose="satisfaction",
                    channel=survey.channel,
                    inbox=survey.inbox if survey.inbox and not survey.inbox.is_default else None,
                    keep_cc=False,  # the question is for the customer, not everyone they copied
                )
        except HubError as error:  # the channel's rules (STOP, WhatsApp's window) say why not
            reason = error.message
    if reason:
        survey.state, survey.reason = SatisfactionSurvey.SKIPPED, reason
    else:
        survey.state, survey.asked_at = SatisfactionSurvey.ASKED, timezone.now()
    survey.save(update_fields=["state", "reason", "asked_at", "question"])


# --- audit ------------------------------------------------------------------------------------------
def audit_record(
    *,
    actor: User | None,
    action: str,
    description: str,
    conversation: Conversation | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        at=timezone.now(),
        actor=actor,
        action=action,
        conversation=conversation,
        description=description[:500],
        data=data or {},
    )


def audit_login(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    """Django's user_logged_in signal: one row per login (never a reason for the login to fail)."""
    if not isinstance(user, User):
        return
    try:
        ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
        audit_record(
            actor=user, action=AuditLog.LOGIN, description=f"{_name(user)} logged in", data={"ip": ip}
        )
    except Exception:
        logger.exception("Could not record the login of user %s", user.pk)


# --- exports ----------------------------------------------------------------------------------------
def export_job_create(
    *, by: User, conversation: Conversation | None = None, filters: dict[str, str] | None = None
) -> ExportJob:
    """A background export (a long thread, or every thread a filter finds), run after commit."""
    from reports import tasks

    if not agent_sees_everything(by):
        raise PermissionDenied("Only managers and admins export conversations.")
    if conversation is None:
        from reports.selectors import history_conversations

        found = history_conversations(user=by, filters=filters or {}, limit=EXPORT_MAX_THREADS + 1).count()
        if found > EXPORT_MAX_THREADS:
            raise ValidationError(
                f"This filter finds more than {EXPORT_MAX_THREADS:,} conversations; narrow it (an agent, a channel, "
                "dates) and export in parts."
            )
        if found == 0:
            raise ValidationError("This filter finds no conversations to export.")
    with transaction.atomic():
        job = ExportJob.objects.create(created_by=by, conversation=conversation, filters=filters or {})
        enqueue_on_commit(tasks.run_export, job.pk)
    return job


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Render the export to a file in storage, counting progress as it goes; the job is claimed first."""
    from django.core.files.base import ContentFile

    from reports.selectors import export_document, history_conversations

    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("created_by", "conversation")
            .filter(pk=job_id, state=ExportJob.QUEUED)
            .first()
        )
        if job is None:
            return None
        job.state = ExportJob.RUNNING
        job.save(update_fields=["state"])
    try:
        if job.conversation is not None:
            conversations = [job.conversation]
        else:
            conversations = list(history_conversations(user=job.created_by, filters=job.filters, limit=None))
        ids = [conversation.pk for conversation in conversations]

        def progress(done: int, total: int) -> None:
            ExportJob.objects.filter(pk=job_id).update(done=done, total=total)

        html = export_document(conversation_ids=ids, by=job.created_by, progress=progress)
        job.file.save(f"export-{job.pk}.html", ContentFile(html.encode()), save=False)
        job.state, job.finished_at = ExportJob.DONE, timezone.now()
        ExportJob.objects.filter(pk=job_id).update(
            state=job.state, finished_at=job.finished_at, file=job.file.name
        )
        export_audit(by=job.created_by, conversation_ids=ids, job=job)
    except Exception as error:
        logger.exception("Export %s failed", job_id)
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.FAILED,
            error=f"The export failed: {error.__class__.__name__}",
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


def export_audit(*, by: User, conversation_ids: list[int], job: ExportJob | None = None) -> None:
    """A one-thread export is an event in that thread (the trail is the thread); an export of many threads,
    which belongs to none of them, is an audit log row."""
    if len(conversation_ids) == 1:
        event_append(
            conversation=Conversation.objects.get(pk=conversation_ids[0]),
            event_type="conversation.exported",
            body=f"{_name(by)} exported the conversation",
            by=by,
            data={"job": job.pk if job else None},
        )
        return
    audit_record(
        actor=by,
        action=AuditLog.EXPORT,
        description=f"{_name(by)} exported {len(conversation_ids)} conversations",
        data={"conversations": conversation_ids[:1000], "job": job.pk if job else None},
    )


# --- helpers ----------------------------------------------------------------------------------------
def _name(user: User | None) -> str:
    if user is None:
        return "The hub"
    return str(user.get_full_name() or user.get_username())


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "no time"
    return f"{timezone.localtime(moment):%b %-d, %H:%M} ({settings.TIME_ZONE})"


def _channel_label(channel: str) -> str:
    return dict(Entry.CHANNEL_CHOICES).get(channel, channel)
