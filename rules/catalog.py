"""What a rule may test and do: each condition's field and operators, each action's arguments, checked when a
rule is saved (with the reason when refused) and read again when it runs (a rule that went stale since, such
as an agent deactivated, logs and skips that action).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]
from django.contrib.auth.models import User

from config.errors import ValidationError
from contacts.models import Label
from conversations.models import Conversation, Entry, Inbox, Team
from conversations.selectors import agent_profile, agent_sees_everything
from events.catalog import EVENT_TYPES
from events.models import WebhookEndpoint
from lifecycle.models import Stage
from sequences.models import Sequence

PATTERN_MAX = 500
TEXT_MAX = 1600  # an SMS reply's limit; email and chat allow more, but a rule's reply is short


@dataclass(frozen=True)
class Condition:
    field: str
    ops: tuple[str, ...]
    label: str


CONDITIONS: dict[str, Condition] = {
    c.field: c
    for c in (
        Condition(
            "channel", ("is", "is_not"), "the message's channel (sms, whatsapp, voice, email, webchat)"
        ),
        Condition("inbox", ("is", "is_not"), "the inbox it came through (an inbox id)"),
        Condition("team", ("is", "is_not", "is_empty"), "the thread's team (a team id)"),
        Condition(
            "stage", ("is", "is_not"), "the customer's lifecycle stage (a stage key: lead, customer...)"
        ),
        Condition("label", ("has", "has_not"), "the customer's labels (a label id)"),
        Condition("attribute", ("is", "is_not", "is_set"), "a custom attribute (`key` and `value`)"),
        Condition("priority", ("is", "is_not"), "the thread's priority (urgent, high, normal, low)"),
        Condition(
            "text", ("contains", "not_contains", "matches"), "the message's text (matches: an RE2 pattern)"
        ),
        Condition("hours", ("inside", "outside"), "the inbox's business hours when the event happened"),
        Condition(
            "first_of_episode", ("is",), "the customer's first message or call of this stretch of work"
        ),
        Condition(
            "automatic", ("is",), "sent by a machine: an auto-reply, a bounce, a mailing list (true or false)"
        ),
        Condition(
            "minutes_since_agent_reply", ("more_than", "less_than"), "minutes since an agent last answered"
        ),
        Condition(
            "lead_score",
            ("more_than", "less_than"),
            "the customer's lead score now (a whole number; none: 0)",
        ),
    )
}

ACTIONS: dict[str, str] = {
    "assign_agent": "give the thread to an agent (`agent`: a user id)",
    "assign_team": "hand the thread to a team's queue (`team`: a team id)",
    "round_robin": "give the thread to the next available agent of its team",
    "add_label": "label the customer (`label`: a label id)",
    "remove_label": "take a label off the customer (`label`: a label id)",
    "set_status": "open, pend, snooze (`minutes`) or resolve the thread (`status`)",
    "set_priority": "set the thread's priority (`priority`: urgent, high, normal, low)",
    "move_stage": "move the customer to a lifecycle stage (`stage`: a stage key)",
    "hand_owner": "give the customer an owner, the team's next agent round robin (`team`: a team id)",
    "reply": "answer the customer as the hub, on their channel (`text`, with canned variables)",
    "add_note": "write a private note in the thread (`text`)",
    "notify": "tell an agent or a team, in their notifications (`agent`: a user id, or `team`; `text`)",
    "webhook": "send the event, signed, to a webhook endpoint (`endpoint`: an endpoint id)",
    "follow_up": "remind the team in the thread later (`minutes`: 1 to 525600; `text`)",
    "enroll_in_sequence": "enrol the customer in a sequence (`sequence`: a sequence id)",
}
STATUSES = (Conversation.OPEN, Conversation.PENDING, Conversation.SNOOZED, Conversation.RESOLVED)
# Events a rule can start from: those about a thread (a rule acts on a thread).
RULE_EVENTS = tuple(
    sorted(
        name
        for name in EVENT_TYPES
        if name not in ("contact.created", "leak.plugged", "message.delivery_changed")
    )
)


def rule_validate(*, event_type: str, conditions: Any, actions: Any, confirmed: bool = False) -> None:
    """Everything a rule says, checked at once; the first thing wrong is the error, with what to write."""
    if event_type not in RULE_EVENTS:
        raise ValidationError(
            f"{str(event_type)[:64]!r} is not an event a rule can start from: use one of {', '.join(RULE_EVENTS)}."
        )
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise ValidationError("Conditions are a list of {field, op, value}.")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        raise ValidationError("A rule needs at least one action: a list of {type, ...}.")
    if len(conditions) > 20 or len(actions) > 10:
        raise ValidationError("At most 20 conditions and 10 actions per rule.")
    for condition in conditions:
        condition_validate(condition)
    for action in actions:
        action_validate(action)
    if event_type == "message.received" and not conditions and not confirmed:
        raise ValidationError(
            "This rule has no conditions: it will act on every message every customer sends. "
            "Add a condition, or confirm that this is what you want."
        )


MACRO_ACTIONS = tuple(kind for kind in ACTIONS if kind != "webhook")  # a macro has no event to send


def macro_validate(*, actions: Any) -> None:
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        raise ValidationError("A macro needs at least one action: a list of {type, ...}.")
    if len(actions) > 10:
        raise ValidationError("At most 10 actions per macro.")
    for action in actions:
        if action.get("type") == "webhook":
            raise ValidationError("A macro cannot send a webhook: only a rule has an event to send.")
        action_validate(action)


def condition_validate(condition: dict[str, Any]) -> None:
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    known = CONDITIONS.get(str(field))
    if known is None:
        raise ValidationError(f"No condition on {str(field)[:40]!r}; use one of {', '.join(CONDITIONS)}.")
    if op not in known.ops:
        raise ValidationError(
            f"A condition on {known.field} takes {' or '.join(known.ops)}, not {str(op)[:20]!r}."
        )
    if field == "text":
        if not isinstance(value, str) or not value or len(value) > PATTERN_MAX:
            raise ValidationError(f"A text condition needs a text of 1 to {PATTERN_MAX} characters.")
        if op == "matches":
            pattern_compile(value)
    elif field == "inbox":
        _exists(Inbox, value, "inbox")
    elif field == "team" and op != "is_empty":
        _exists(Team, value, "team")
    elif field == "label":
        _exists(Label, value, "label")
    elif field == "stage":
        if not Stage.objects.filter(key=str(value)).exists():
            raise ValidationError(f"No lifecycle stage {str(value)[:40]!r}.")
    elif field == "priority":
        if value not in dict(Conversation.PRIORITY_CHOICES):
            raise ValidationError("A priority is urgent, high, normal or low.")
    elif field == "channel":
        if value not in (Entry.SMS, Entry.WHATSAPP, Entry.VOICE, Entry.EMAIL, Entry.WEBCHAT):
            raise ValidationError("A channel is sms, whatsapp, voice, email or webchat.")
    elif field in ("first_of_episode", "automatic"):
        if not isinstance(value, bool):
            raise ValidationError(f"A condition on {field} is true or false.")
    elif field == "attribute":
        if not isinstance(condition.get("key"), str) or not condition["key"]:
            raise ValidationError("An attribute condition names the attribute's `key`.")
    elif field == "lead_score" and (
        isinstance(value, bool) or not isinstance(value, int) or not -10_000 <= value <= 10_000
    ):
        raise ValidationError("A lead score condition compares with a whole number from -10000 to 10000.")
    elif field == "minutes_since_agent_reply" and (not isinstance(value, int) or not 0 <= value <= 525_600):
        raise ValidationError("Minutes since an agent's reply are a whole number from 0 to 525600.")


def action_validate(action: dict[str, Any]) -> None:
    kind = action.get("type")
    if kind not in ACTIONS:
        raise ValidationError(f"No action {str(kind)[:40]!r}; use one of {', '.join(ACTIONS)}.")
    if kind == "notify" and action.get("team") is not None:
        if action.get("agent") is not None:
            raise ValidationError("Notify an agent or a team, not both.")
        _exists(Team, action.get("team"), "team")
    elif kind in ("assign_agent", "notify"):
        agent = User.objects.filter(pk=_id(action.get("agent"))).first()
        if agent is None or not (agent_sees_everything(agent) or agent_profile(agent) is not None):
            raise ValidationError("No such agent to assign or notify.")
        if not agent.is_active:
            raise ValidationError(f"{agent.get_username()} is deactivated; pick an active agent.")
    if kind in ("assign_team", "hand_owner"):
        _exists(Team, action.get("team"), "team")
    if kind == "webhook":
        _exists(WebhookEndpoint, action.get("endpoint"), "webhook endpoint")
    if kind == "enroll_in_sequence":
        _exists(Sequence, action.get("sequence"), "sequence")
    if kind in ("add_label", "remove_label"):
        _exists(Label, action.get("label"), "label")
    if kind == "set_status":
        if action.get("status") not in STATUSES:
            raise ValidationError("A status is open, pending, snoozed or resolved.")
        minutes = action.get("minutes")
        if action["status"] == Conversation.SNOOZED and (
            not isinstance(minutes, int) or not 1 <= minutes <= 43_200
        ):
            raise ValidationError("A snooze lasts 1 to 43200 minutes (`minutes`).")
    if kind == "set_priority" and action.get("priority") not in dict(Conversation.PRIORITY_CHOICES):
        raise ValidationError("A priority is urgent, high, normal or low.")
    if kind == "move_stage" and not Stage.objects.filter(key=str(action.get("stage"))).exists():
        raise ValidationError(f"No lifecycle stage {str(action.get('stage'))[:40]!r}.")
    if kind == "follow_up":
        minutes = action.get("minutes")
        if not isinstance(minutes, int) or not 1 <= minutes <= 525_600:
            raise ValidationError("A follow-up is due 1 to 525600 minutes later (`minutes`).")
    if kind in ("reply", "add_note", "notify", "follow_up"):
        text = action.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
            raise ValidationError(f"The text is 1 to {TEXT_MAX} characters.")


def pattern_compile(pattern: str) -> Any:
    """RE2 runs in time linear in the text: no pattern can hang a worker. What RE2 does not support (back
    references, look-arounds) is refused with its reason."""
    try:
        return re2.compile(pattern)
    except Exception as error:  # re2.error, and what its C++ side raises for a bad pattern
        raise ValidationError(f"The pattern {pattern[:60]!r} cannot be used: {error}") from error


def _id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _exists(model: Any, value: Any, what: str) -> None:
    if not model.objects.filter(pk=_id(value)).exists():
        raise ValidationError(f"No such {what} ({str(value)[:20]}).")
