"""Rules at work: queued from the event stream after commit, evaluated and applied by a worker, each step
written down (the run log, and an event entry in the thread naming the rule and the event that met it).

At least once, never twice: `rules_take` (an events consumer) writes one pending `RuleRun` per enabled rule
of the event's type, unique per rule and event, in the dispatcher's transaction; `rule_runs_process` claims
one event's runs with SKIP LOCKED and applies them in rule order inside one transaction with the run rows,
so a worker that dies mid-way leaves them pending for the next (the task after commit, or the periodic sweep).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from channels_adapters.whatsapp_templates import hub_message_send
from config.enqueue import enqueue_on_commit
from config.errors import HubError, ValidationError
from contacts.models import Label
from conversations.assignment import conversation_assign_team, conversation_autoassign
from conversations.canned import canned_render
from conversations.customers import contact_update
from conversations.hours import is_open
from conversations.models import Conversation, Entry, Inbox, Team
from conversations.notifications import notifications_for_mentions
from conversations.selectors import agent_can_see
from conversations.services import (
    conversation_assign,
    conversation_get_visible,
    conversation_set_priority,
    conversation_set_status,
    entry_append,
    event_append,
)
from events.models import DomainEvent
from events.services import events_caused_by
from lifecycle.models import ContactStage, Stage
from lifecycle.owners import contact_owner_hand
from lifecycle.scores import lead_scores_of, score_expression
from lifecycle.services import stage_move
from reports.models import ScheduledFollowUp
from reports.services import followup_schedule
from rules.catalog import CONDITIONS, macro_validate, pattern_compile, rule_validate
from rules.models import Macro, Rule, RuleRun
from sequences.models import Sequence as JourneySequence
from sequences.services import sequence_enroll
from webhooks.delivery import webhook_delivery_queue_one

logger = logging.getLogger("hub.rules")


# --- managing rules ------------------------------------------------------------------------------------
def rule_save(
    *,
    by: User | None,
    name: str,
    event_type: str,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    enabled: bool = True,
    stop_after: bool = False,
    position: int | None = None,
    confirmed: bool = False,
    rule: Rule | None = None,
    preset: str = "",
) -> Rule:
    """Create (or, given `rule`, change) a rule, checked whole first: nothing is saved half right."""
    name = " ".join(str(name or "").split())
    if not name or len(name) > 200:
        raise ValidationError("A rule needs a name of 1 to 200 characters.")
    rule_validate(event_type=event_type, conditions=conditions, actions=actions, confirmed=confirmed)
    rule = rule or Rule(created_by=by, preset=preset)
    rule.name, rule.event_type, rule.conditions, rule.actions = name, event_type, conditions, actions
    rule.enabled, rule.stop_after = enabled, stop_after
    if position is not None:
        rule.position = position
    elif rule.pk is None:
        last = Rule.objects.order_by("-position").values_list("position", flat=True).first()
        rule.position = (last or 0) + 10
    rule.save()
    return rule


OUT_OF_HOURS = "out_of_hours"


def out_of_hours_rule(*, by: User | None, inbox: Inbox, text: str, enabled: bool = True) -> Rule:
    """The ready-made rule: a customer who writes to `inbox` outside its business hours is answered once per
    stretch of work, as the hub (never an agent's first response), never to an auto-reply, never after STOP
    or outside WhatsApp's window (the channel's own rules refuse those, and the run log says so)."""
    # A handful of preset rules, matched here: JSON containment is PostgreSQL's, and `make run` is SQLite.
    existing = next(
        (
            rule
            for rule in Rule.objects.filter(preset=OUT_OF_HOURS).order_by("id")
            if {"field": "inbox", "op": "is", "value": inbox.pk} in rule.conditions
        ),
        None,
    )
    return rule_save(
        by=by,
        rule=existing,
        preset=OUT_OF_HOURS,
        name=f"Out-of-hours reply: {inbox.name}",
        event_type="message.received",
        conditions=[
            {"field": "inbox", "op": "is", "value": inbox.pk},
            {"field": "automatic", "op": "is", "value": False},
            {"field": "hours", "op": "outside"},
            {"field": "first_of_episode", "op": "is", "value": True},
        ],
        actions=[{"type": "reply", "text": text}],
        enabled=enabled,
    )


# --- macros -------------------------------------------------------------------------------------------
def macro_save(
    *, by: User | None, name: str, actions: list[dict[str, Any]], macro: Macro | None = None
) -> Macro:
    name = " ".join(str(name or "").split())
    if not name or len(name) > 200:
        raise ValidationError("A macro needs a name of 1 to 200 characters.")
    macro_validate(actions=actions)
    clash = Macro.objects.filter(name__iexact=name).exclude(pk=macro.pk if macro else 0).exists()
    if clash:
        raise ValidationError(f"A macro named “{name}” exists already.")
    macro = macro or Macro(created_by=by)
    macro.name, macro.actions = name, actions
    macro.save()
    return macro


def macro_apply(*, macro: Macro, conversation_ids: Sequence[int], by: User) -> list[dict[str, Any]]:
    """The macro's actions on each thread, as `by`, the same code as the rules. A thread `by` may not see is
    answered as if it did not exist, and then nothing is applied to any of the selection."""
    if not conversation_ids or len(conversation_ids) > 100:
        raise ValidationError("Apply a macro to 1 to 100 threads at once.")
    threads = [conversation_get_visible(user=by, conversation_id=int(pk)) for pk in conversation_ids]
    results = []
    source = f"macro “{macro.name}”"
    for conversation in threads:
        done, errors = [], []
        with events_caused_by(f"macro:{macro.pk}", depth=0):
            for action in macro.actions:
                try:
                    with transaction.atomic():
                        done.append(action_take(action, conversation=conversation, by=by, source=source))
                except HubError as error:
                    errors.append(f"{action.get('type')}: {error.message}")
            if done:
                event_append(
                    conversation=conversation,
                    event_type="macro.applied",
                    body=f"{by.get_full_name() or by.get_username()} applied {source}: " + "; ".join(done),
                    by=by,
                    data={"macro": macro.pk, "done": done, "errors": errors},
                )
        results.append({"conversation": conversation.pk, "done": done, "errors": errors})
    return results


# --- a dry run ----------------------------------------------------------------------------------------
DRY_RUN_EVENTS = 1000


def rule_dry_run(
    *, event_type: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]]
) -> dict[str, Any]:
    """A rule's conditions on the last 1,000 events of the stream, as they were then where the event tells
    (its text, channel, inbox, time, the priority it set), as the thread is now otherwise (labels, stage,
    team): which threads it would have touched and what it would have done. Nothing is changed."""
    rule_validate(event_type=event_type, conditions=conditions, actions=actions, confirmed=True)
    recent = list(DomainEvent.objects.order_by("-id")[:DRY_RUN_EVENTS])
    threads = Conversation.objects.select_related("contact", "team").in_bulk(
        {e.conversation_id for e in recent if e.type == event_type and e.conversation_id}
    )
    entry_ids = [
        e.payload.get("entry") for e in recent if e.type == event_type and isinstance(e.payload, dict)
    ]
    entries = Entry.objects.select_related("inbox").in_bulk([pk for pk in entry_ids if isinstance(pk, int)])
    would = [action_describe(action) for action in actions]
    matches = []
    for event in recent:
        conversation = threads.get(event.conversation_id or 0)
        if event.type != event_type or conversation is None:
            continue
        entry = entries.get(event.payload.get("entry")) if isinstance(event.payload, dict) else None
        facts = _Facts(event, conversation=conversation, entry=entry)
        if all(_holds(condition, facts) for condition in conditions):
            matches.append(
                {
                    "event": event.uid,
                    "at": event.occurred_at,
                    "conversation": conversation.pk,
                    "contact": conversation.contact.display_name,
                    "would": would,
                }
            )
    return {
        "events_checked": len(recent),
        "of_type": sum(e.type == event_type for e in recent),
        "matches": matches,
    }


def action_describe(action: dict[str, Any]) -> str:
    """What an action would do, in words, for a dry run and the rules page."""
    kind = action.get("type")
    names: dict[str, Any] = {
        "agent": lambda pk: _user_name(User.objects.filter(pk=pk).first()),
        "team": lambda pk: getattr(Team.objects.filter(pk=pk).first(), "name", "?"),
        "label": lambda pk: getattr(Label.objects.filter(pk=pk).first(), "name", "?"),
    }
    if kind == "assign_agent":
        return f"assign to {names['agent'](action.get('agent'))}"
    if kind == "assign_team":
        return f"hand to the {names['team'](action.get('team'))} queue"
    if kind == "round_robin":
        return "assign round robin in the thread's team"
    if kind == "hand_owner":
        return f"hand the customer to an owner of the {names['team'](action.get('team'))} team"
    if kind in ("add_label", "remove_label"):
        return f"{'label' if kind == 'add_label' else 'take off the label'} {names['label'](action.get('label'))}"
    if kind == "set_status":
        extra = f" for {action.get('minutes')} minutes" if action.get("status") == "snoozed" else ""
        return f"set the status to {action.get('status')}{extra}"
    if kind == "set_priority":
        return f"set the priority to {action.get('priority')}"
    if kind == "move_stage":
        return f"move the customer to {action.get('stage')}"
    if kind == "reply":
        return f"answer: {_quote(action.get('text'))}"
    if kind == "add_note":
        return f"write a note: {_quote(action.get('text'))}"
    if kind == "notify":
        if action.get("team") is not None:
            return f"notify the {names['team'](action.get('team'))} team"
        return f"notify {names['agent'](action.get('agent'))}"
    if kind == "webhook":
        return "send the event to a webhook"
    if kind == "follow_up":
        return f"remind the team in {action.get('minutes')} minutes: {_quote(action.get('text'))}"
    if kind == "enroll_in_sequence":
        sequence = JourneySequence.objects.filter(pk=int(action.get("sequence") or 0)).first()
        return f"enrol the customer in the sequence “{sequence.name if sequence else '?'}”"
    return str(kind)


def _quote(text: Any, limit: int = 80) -> str:
    """A text quoted in a description, cut at a word with an ellipsis when long."""
    words = " ".join(str(text).split())
    if len(words) > limit:
        words = words[:limit].rsplit(" ", 1)[0] + "…"
    return f"“{words}”"


def _user_name(user: User | None) -> str:
    return "?" if user is None else (user.get_full_name() or user.get_username())


# --- from the stream ----------------------------------------------------------------------------------
def rules_take(events: Sequence[DomainEvent]) -> None:
    """The events consumer: one pending run per enabled rule of each event's type (unique, so a second
    dispatch of the same event adds nothing), and a worker nudged after commit."""
    types = {event.type for event in events}
    rules: dict[str, list[tuple[int, list[dict[str, Any]]]]] = {}
    for rule_id, event_type, conditions in Rule.objects.filter(
        enabled=True, event_type__in=types
    ).values_list("pk", "event_type", "conditions"):
        rules.setdefault(event_type, []).append((rule_id, conditions))
    # The conditions are checked here, in the dispatcher, each fact of the thread read once per event and
    # only when a rule asks for it: a rule that does not match costs no row and no worker. The worker checks
    # again before it acts (the thread may have changed since); the dry run shows why a rule did not match.
    pending: list[tuple[_Facts, list[tuple[int, list[dict[str, Any]]]]]] = []
    for event in events:
        candidates = rules.get(event.type, [])
        if event.conversation_id is None or not candidates:
            continue
        # First what the event says by itself, in memory; the threads are read only for the rules left.
        view = _EventView(event)
        candidates = [
            (rule_id, conditions)
            for rule_id, conditions in candidates
            if all(_holds_on_event(condition, view) is not False for condition in conditions)
        ]
        if candidates:
            pending.append((_Facts(event), candidates))
    needed = {
        str(c.get("field")) for _, candidates in pending for _, conditions in candidates for c in conditions
    }
    if needed - EVENT_FIELDS:
        _Facts.preload([facts for facts, _ in pending], needed)
    runs = [
        RuleRun(
            rule_id=rule_id,
            event_id=facts.event.pk,
            event_uid=facts.event.uid,
            event_type=facts.event.type,
            conversation_id=facts.event.conversation_id,
            depth=facts.event.depth,
        )
        for facts, candidates in pending
        for rule_id, conditions in candidates
        if _matches(conditions, facts)
    ]
    if runs:
        RuleRun.objects.bulk_create(runs, ignore_conflicts=True)
        from rules import tasks

        enqueue_on_commit(tasks.run_rules)


def _matches(conditions: list[dict[str, Any]], facts: _Facts) -> bool:
    try:
        return all(_holds(condition, facts) for condition in conditions)
    except Exception:  # a rule that breaks on this event: queued, so its run log says how
        logger.exception("Rule conditions failed on %s", facts.event.uid)
        return True


def rule_runs_process(*, limit: int = 200, older_than_s: float = 0.0) -> int:
    """Apply pending runs, one event at a time, oldest first; returns how many runs were finished."""
    threshold = timezone.now() - timedelta(seconds=older_than_s)
    done = 0
    while done < limit:
        with transaction.atomic():
            head = (
                RuleRun.objects.select_for_update(skip_locked=True)
                .filter(state=RuleRun.PENDING, created_at__lte=threshold)
                .order_by("event_id", "id")
                .first()
            )
            if head is None:
                break
            runs = list(
                RuleRun.objects.select_for_update(skip_locked=True)
                .filter(event_id=head.event_id, state=RuleRun.PENDING)
                .select_related("rule")
                .order_by("rule__position", "rule_id")
            )
            event = DomainEvent.objects.filter(pk=head.event_id).first()
            done += _event_apply(event, runs)
    return done


def _event_apply(event: DomainEvent | None, runs: list[RuleRun]) -> int:
    stopped_by: Rule | None = None
    assigned_by: dict[
        str, str
    ] = {}  # which rule assigned the thread for this event, so a later one says it won
    for run in runs:
        if event is None:
            _finish(run, RuleRun.SKIPPED, "the event is gone")
        elif not run.rule.enabled:
            _finish(run, RuleRun.SKIPPED, "the rule was switched off before it ran")
        elif stopped_by is not None:
            _finish(
                run, RuleRun.SKIPPED, f"rule “{stopped_by.name}” acted first and stops the rules after it"
            )
        elif _run_one(event, run, assigned_by) and run.rule.stop_after:
            stopped_by = run.rule
    return len(runs)


def _finish(run: RuleRun, state: str, detail: str) -> None:
    run.state, run.detail, run.finished_at = state, detail[:4000], timezone.now()
    run.save(update_fields=["state", "detail", "finished_at"])


# --- one rule, one event ------------------------------------------------------------------------------
class _Facts:
    """What the conditions read about one event's thread, each loaded once, when a condition first asks."""

    def __init__(
        self,
        event: DomainEvent,
        assigned_by: dict[str, str] | None = None,
        *,
        conversation: Conversation | None = None,
        entry: Entry | None = None,
    ) -> None:
        self.event = event
        self.assigned_by = assigned_by if assigned_by is not None else {}
        self.done: list[str] = []
        self._memo: dict[str, Any] = {}
        if conversation is not None:
            self._memo["conversation"] = conversation
            self._memo["entry"] = entry

    @staticmethod
    def preload(batch: Sequence[_Facts], fields: set[str]) -> None:
        """The threads of a batch of events and what the conditions in `fields` read of them, in one
        statement for the whole batch (the dispatcher's; the worker reads each fact exactly, when asked)."""
        threads = Conversation.objects.filter(pk__in={facts.event.conversation_id for facts in batch})
        if fields & {"label", "attribute"}:  # the only conditions that read the customer's row
            threads = threads.select_related("contact")
        if "stage" in fields:
            stage = ContactStage.objects.filter(contact_id=OuterRef("contact_id")).values("stage__key")[:1]
            threads = threads.annotate(stage_key=Subquery(stage))
        if "minutes_since_agent_reply" in fields:
            threads = threads.annotate(last_agent_reply_at=Subquery(_agent_replies(OuterRef("pk"))[:1]))
        if "lead_score" in fields:
            threads = threads.annotate(score_now=score_expression())
        by_pk = {conversation.pk: conversation for conversation in threads}
        for facts in batch:
            conversation = by_pk.get(facts.event.conversation_id or 0)
            facts._memo["conversation"] = conversation
            if conversation is None:
                continue
            if "stage" in fields:
                facts._memo["stage"] = conversation.stage_key  # type: ignore[attr-defined]
            if "lead_score" in fields:
                score = conversation.score_now  # type: ignore[attr-defined]
                facts._memo["lead_score"] = None if score is None else round(score)
            last = getattr(conversation, "last_agent_reply_at", None)
            at = facts.event.occurred_at
            if "minutes_since_agent_reply" in fields and (last is None or last <= at):
                # The latest reply of all is the latest before the event; one after it is read exactly.
                facts._memo["minutes"] = None if last is None else (at - last).total_seconds() / 60

    def memo(self, key: str, load: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]

    @property
    def conversation(self) -> Conversation | None:
        return self.memo(  # type: ignore[no-any-return]
            "conversation",
            lambda: (
                Conversation.objects.select_related("contact", "team")
                .filter(pk=self.event.conversation_id or 0)
                .first()
            ),
        )

    @property
    def entry(self) -> Entry | None:
        def load() -> Entry | None:
            entry_id = self.event.payload.get("entry") if isinstance(self.event.payload, dict) else None
            if not isinstance(entry_id, int) or self.conversation is None:
                return None
            return Entry.objects.filter(pk=entry_id, conversation=self.conversation).first()

        return self.memo("entry", load)  # type: ignore[no-any-return]


def _run_one(event: DomainEvent, run: RuleRun, assigned_by: dict[str, str]) -> bool:
    """True when the rule acted."""
    rule = run.rule
    facts = _Facts(event, assigned_by)
    conversation = facts.conversation
    if conversation is None:
        _finish(run, RuleRun.SKIPPED, "the thread is gone")
        return False
    failed = next((c for c in rule.conditions if not _holds(c, facts)), None)
    if failed is not None:
        _finish(run, RuleRun.SKIPPED, f"not met: {_describe(failed)}")
        return False
    guard = _loop_guard(run, conversation)  # only a rule that would act is stopped, and says so
    if guard:
        _finish(run, RuleRun.STOPPED, guard)
        event_append(
            conversation=conversation,
            event_type="rule.stopped",
            body=f"Rule “{rule.name}” stopped: {guard}",
            data={"rule": rule.pk, "event": event.uid},
        )
        return False
    errors: list[str] = []
    with events_caused_by(f"rule:{rule.pk}", depth=event.depth + 1):
        for action in rule.actions:
            try:
                with transaction.atomic():
                    did = action_take(
                        action,
                        conversation=conversation,
                        by=None,
                        source=f"rule “{rule.name}”",
                        event=event,
                    )
                if action["type"] in ("assign_agent", "assign_team", "round_robin"):
                    earlier = assigned_by.get("rule")
                    if earlier and earlier != rule.name:
                        did += f" (this rule comes after “{earlier}”, so its choice stands)"
                    assigned_by["rule"] = rule.name
                facts.done.append(did)
            except HubError as error:  # stale since it was saved (an agent deactivated...): logged, skipped
                errors.append(f"{action.get('type')}: {error.message}")
            except Exception as error:
                logger.exception("Rule %s action %s failed on %s", rule.pk, action.get("type"), event.uid)
                errors.append(f"{action.get('type')}: {type(error).__name__}")
        if facts.done:
            event_append(
                conversation=conversation,
                event_type="rule.applied",
                body=f"Rule “{rule.name}” (on {event.type}): " + "; ".join(facts.done),
                data={"rule": rule.pk, "event": event.uid, "done": facts.done, "errors": errors},
            )
    run.errors = len(errors)
    detail = "\n".join([*facts.done, *(f"error: {e}" for e in errors)])
    _finish(run, RuleRun.FAILED if errors and not facts.done else RuleRun.APPLIED, detail)
    if errors:
        run.save(update_fields=["errors"])
    return bool(facts.done)


def _loop_guard(run: RuleRun, conversation: Conversation) -> str:
    if run.depth >= settings.RULES_MAX_DEPTH:
        return (
            f"a chain of {run.depth} rules reacting to each other's changes reached the limit "
            f"(RULES_MAX_DEPTH = {settings.RULES_MAX_DEPTH})"
        )
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = RuleRun.objects.filter(
        rule=run.rule, conversation_id=conversation.pk, state=RuleRun.APPLIED, created_at__gte=hour_ago
    ).count()
    if recent >= settings.RULES_MAX_PER_THREAD_HOUR:
        return (
            f"it acted on this thread {recent} times in the last hour "
            f"(RULES_MAX_PER_THREAD_HOUR = {settings.RULES_MAX_PER_THREAD_HOUR})"
        )
    return ""


# --- conditions ---------------------------------------------------------------------------------------
EVENT_FIELDS = {"channel", "inbox", "text", "automatic"}  # answered by a message's event alone


class _EventView:
    """What conditions read of one event by itself, worked out once for all the rules that ask."""

    __slots__ = ("_folded", "payload", "type")

    def __init__(self, event: DomainEvent) -> None:
        self.type = event.type
        self.payload: dict[str, Any] = event.payload if isinstance(event.payload, dict) else {}
        self._folded: str | None = None

    def folded(self) -> str:
        if self._folded is None:
            self._folded = str(self.payload["body"]).casefold()
        return self._folded


def _holds_on_event(condition: dict[str, Any], event: DomainEvent | _EventView) -> bool | None:
    """A condition the event answers from its own payload, as it was then; None when the thread must."""
    view = event if isinstance(event, _EventView) else _EventView(event)
    field_name, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    payload = view.payload
    if field_name == "text":
        if not isinstance(payload.get("body"), str):
            return None
        if op == "matches":
            return _pattern(str(value)).search(payload["body"]) is not None
        found = str(value).casefold() in view.folded()
        return found if op == "contains" else not found
    if field_name == "automatic":
        return bool(payload.get("automatic")) == bool(value) if view.type == "message.received" else None
    if field_name == "channel" or field_name == "inbox":
        key = field_name
    elif field_name == "priority" and view.type == "conversation.priority_changed":
        key = "priority"
    else:
        return None
    if key not in payload:
        return None
    same = str(payload[key]) == str(value)
    return same if op == "is" else not same


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> Any:
    return pattern_compile(pattern)


def _holds(condition: dict[str, Any], facts: _Facts) -> bool:
    answered = _holds_on_event(condition, facts.event)
    if answered is not None:
        return answered
    field_name, op, value = condition["field"], condition["op"], condition.get("value")
    number = int(value) if isinstance(value, int | str) and str(value).isdigit() else 0
    conversation = facts.conversation
    if conversation is None:
        return False
    entry = facts.entry if field_name in ("text", "hours", "first_of_episode") else None
    if field_name == "text":
        text = entry.body if entry is not None else ""
        if op == "matches":
            return _pattern(str(value)).search(text) is not None
        found = str(value).casefold() in text.casefold()
        return found if op == "contains" else not found
    if field_name == "hours":
        inbox = (entry.inbox if entry is not None else None) or conversation.last_inbound_inbox
        inside = is_open(inbox, facts.event.occurred_at) if inbox is not None else True
        return inside if op == "inside" else not inside
    if field_name == "automatic":
        return value is False  # only a customer's message is ever automatic, and its event said so above
    if field_name == "first_of_episode":
        first = facts.memo("first_of_episode", lambda: _first_of_episode(entry))
        return bool(first) == bool(value if value is not None else True)
    if field_name == "minutes_since_agent_reply":
        minutes = facts.memo(
            "minutes", lambda: _minutes_since_agent_reply(conversation, facts.event.occurred_at)
        )
        if op == "more_than":
            return minutes is None or minutes > number
        return minutes is not None and minutes < number
    if field_name == "lead_score":
        # The customer's score as it is now (the thread's state, as for the stage); no score counts as 0.
        score = facts.memo(
            "lead_score", lambda: lead_scores_of([conversation.contact_id]).get(conversation.contact_id)
        )
        threshold = int(value) if isinstance(value, int) else 0
        return (score or 0) > threshold if op == "more_than" else (score or 0) < threshold
    if field_name == "label":
        has = number in facts.memo(
            "labels", lambda: set(conversation.contact.labels.values_list("pk", flat=True))
        )
        return has if op == "has" else not has
    if field_name == "attribute":
        attributes = (
            conversation.contact.attributes if isinstance(conversation.contact.attributes, dict) else {}
        )
        current = attributes.get(str(condition.get("key")))
        if op == "is_set":
            return current not in (None, "")
        same = str(current).casefold() == str(value).casefold()
        return same if op == "is" else not same
    if field_name == "team" and op == "is_empty":
        return conversation.team_id is None
    actual = _value_of(field_name, facts)
    same = str(actual) == str(value)
    return same if op == "is" else not same


def _value_of(field_name: str, facts: _Facts) -> Any:
    conversation = facts.conversation
    assert conversation is not None
    entry = facts.entry if field_name in ("channel", "inbox") else None
    if field_name == "channel":
        return entry.channel if entry is not None else conversation.last_inbound_channel
    if field_name == "inbox":
        return entry.inbox_id if entry is not None else conversation.last_inbound_inbox_id
    if field_name == "team":
        return conversation.team_id
    if field_name == "priority":
        return conversation.priority
    if field_name == "stage":
        return facts.memo(
            "stage",
            lambda: (
                ContactStage.objects.filter(contact_id=conversation.contact_id)
                .values_list("stage__key", flat=True)
                .first()
            ),
        )
    raise ValidationError(f"No condition on {field_name}.")


def _first_of_episode(entry: Entry | None) -> bool:
    if entry is None or entry.episode_id is None:
        return False
    return not Entry.objects.filter(
        episode_id=entry.episode_id,
        direction=Entry.INBOUND,
        kind__in=(Entry.MESSAGE, Entry.CALL),
        pk__lt=entry.pk,
    ).exists()


def _agent_replies(conversation: Any, at: datetime | None = None) -> QuerySet[Entry, datetime]:
    """When agents answered the thread (up to `at`, if given), latest first."""
    replies = Entry.objects.filter(
        conversation=conversation,
        direction=Entry.OUTBOUND,
        kind__in=(Entry.MESSAGE, Entry.CALL),
        author__isnull=False,
    )
    if at is not None:
        replies = replies.filter(created_at__lte=at)
    return replies.order_by("-created_at").values_list("created_at", flat=True)


def _minutes_since_agent_reply(conversation: Conversation, at: datetime) -> float | None:
    last = _agent_replies(conversation, at).first()
    return None if last is None else (at - last).total_seconds() / 60


def _describe(condition: dict[str, Any]) -> str:
    known = CONDITIONS.get(str(condition.get("field")))
    what = known.field if known is not None else str(condition.get("field"))
    value = condition.get("value")
    return f"{what} {str(condition.get('op')).replace('_', ' ')}" + (f" {value}" if value is not None else "")


# --- actions ------------------------------------------------------------------------------------------
def action_take(
    action: dict[str, Any],
    *,
    conversation: Conversation,
    by: User | None,
    source: str,
    event: DomainEvent | None = None,
) -> str:
    """Take one action on a thread, as the hub (`by` None: a rule) or as an agent (a macro); returns what it
    did, for the thread and the run log. `source` names the rule or macro in what the thread shows."""
    kind = action["type"]
    reason = source
    if kind == "assign_agent":
        agent = User.objects.filter(pk=int(action["agent"])).first()
        if agent is None:
            raise ValidationError("the agent no longer exists")
        conversation_assign(conversation=conversation, assignee=agent, by=by, reason=reason)
        return f"assigned to {agent.get_full_name() or agent.get_username()}"
    if kind == "assign_team":
        team = Team.objects.filter(pk=int(action["team"])).first()
        if team is None:
            raise ValidationError("the team no longer exists")
        conversation_assign_team(conversation=conversation, team=team, by=by)
        return f"handed to the {team.name} queue"
    if kind == "round_robin":
        agent = conversation_autoassign(conversation=conversation)
        if agent is None:
            raise ValidationError("no agent of the team is available")
        return f"assigned round robin to {agent.get_full_name() or agent.get_username()}"
    if kind in ("add_label", "remove_label"):
        label = Label.objects.filter(pk=int(action["label"])).first()
        if label is None:
            raise ValidationError("the label no longer exists")
        current = set(conversation.contact.labels.values_list("pk", flat=True))
        wanted = current | {label.pk} if kind == "add_label" else current - {label.pk}
        if wanted != current:
            contact_update(contact=conversation.contact, by=by, labels=sorted(wanted))
        return f"{'labelled' if kind == 'add_label' else 'took off the label'} {label.name}"
    if kind == "set_status":
        status = str(action["status"])
        until = timezone.now() + timedelta(minutes=int(action["minutes"])) if status == "snoozed" else None
        conversation_set_status(
            conversation=conversation, status=status, by=by, reason=reason, snoozed_until=until
        )
        return f"set the status to {status}"
    if kind == "set_priority":
        conversation_set_priority(conversation=conversation, priority=str(action["priority"]), by=by)
        return f"set the priority to {action['priority']}"
    if kind == "hand_owner":
        team = Team.objects.filter(pk=int(action["team"])).first()
        if team is None:
            raise ValidationError("the team no longer exists")
        row = contact_owner_hand(
            contact=conversation.contact, team=team, by=by, reason=reason or "an automation rule"
        )
        if row.owner is None:
            raise ValidationError(f"{team.name} has no active agent to own the customer")
        return f"handed the customer to {row.owner.get_full_name() or row.owner.get_username()}"
    if kind == "move_stage":
        stage = Stage.objects.filter(key=str(action["stage"])).first()
        if stage is None:
            raise ValidationError("the stage no longer exists")
        stage_move(contact=conversation.contact, stage=stage, by=by, rule="automation", reason=reason)
        return f"moved the customer to {stage.name}"
    if kind == "reply":
        body = canned_render(text=str(action["text"]), contact=conversation.contact, agent=by)
        entry = hub_message_send(conversation=conversation, body=body, author=by, purpose="rule")
        return f"answered on {entry.channel}" + (" with a template" if "template" in entry.data else "")
    if kind == "add_note":
        entry_append(
            conversation=conversation,
            kind=Entry.NOTE,
            direction=Entry.INTERNAL,
            body=str(action["text"]),
            author=by,
            data={"source": source},
        )
        return "wrote a note"
    if kind == "notify":
        if action.get("team") is not None:
            team = Team.objects.filter(pk=int(action["team"])).first()
            if team is None:
                raise ValidationError("the team no longer exists")
            candidates = list(User.objects.filter(is_active=True, agent__teams=team).order_by("username"))
            whom = f"the {team.name} team"
        else:
            candidates = list(User.objects.filter(pk=int(action["agent"]), is_active=True))
            whom = ""
        agents = [agent for agent in candidates if agent_can_see(agent, conversation)]
        if not agents:
            raise ValidationError("nobody to notify is active and can see this thread")
        note = entry_append(
            conversation=conversation,
            kind=Entry.NOTE,
            direction=Entry.INTERNAL,
            body=" ".join(f"@{agent.get_username()}" for agent in agents) + f" {action['text']}",
            author=by,
            data={"source": source},
        )
        notifications_for_mentions(entry=note, mentioned=agents, by=by)
        return f"notified {whom or _user_name(agents[0])}"
    if kind == "follow_up":
        minutes = int(action["minutes"])
        followup_schedule(
            conversation=conversation,
            by=by,
            kind=ScheduledFollowUp.REMINDER,
            due_at=timezone.now() + timedelta(minutes=minutes),
            body=f"{action['text']} ({source})",
            cancel_on_reply=False,
        )
        return f"scheduled a reminder in {minutes} minutes"
    if kind == "enroll_in_sequence":
        sequence = JourneySequence.objects.filter(pk=int(action["sequence"])).first()
        if sequence is None:
            raise ValidationError("the sequence no longer exists")
        sequence_enroll(
            sequence=sequence,
            contact=conversation.contact,
            by=by,
            source="rule" if event is not None else "macro",
            source_label=source[:1].upper() + source[1:],
        )
        return f"enrolled the customer in the sequence “{sequence.name}”"
    if kind == "webhook":
        if event is None:
            raise ValidationError("only a rule, started by an event, sends a webhook")
        if not webhook_delivery_queue_one(endpoint_id=int(action["endpoint"]), event=event):
            raise ValidationError("the webhook endpoint is gone or switched off")
        return "sent the event to a webhook"
    raise ValidationError(f"unknown action {kind}")
