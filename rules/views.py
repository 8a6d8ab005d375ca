"""The automation page (/inbox/settings/rules/): out-of-hours replies, the ordered rules with their run logs,
a rule form with a dry run, and the macros; for admins and managers, the same services as the API.

One URL; every action posts an `action` and the id it acts on, as the webhooks page does. The rule form's
condition and action rows are built by static/js/rules.js into the JSON textareas `conditions` and
`actions`, which are the form's fields without JavaScript.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.errors import HubError, ValidationError
from contacts.models import Label
from conversations.models import AgentProfile, Conversation, Inbox, Team
from conversations.selectors import agent_is_admin, agent_sees_everything
from events.models import WebhookEndpoint
from lifecycle.models import Stage
from rules.catalog import ACTIONS, CONDITIONS, MACRO_ACTIONS, RULE_EVENTS, STATUSES
from rules.models import Macro, Rule, RuleRun
from rules.services import (
    OUT_OF_HOURS,
    action_describe,
    macro_save,
    out_of_hours_rule,
    rule_dry_run,
    rule_save,
)
from sequences.models import Sequence

PAGE = "/inbox/settings/rules/"
OUT_OF_HOURS_TEXT = "Thanks for your message! We're closed right now and will answer when we open."
CHANNELS = [
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("voice", "Voice"),
    ("email", "Email"),
    ("webchat", "Web chat"),
]
FIELD_NAMES = {
    "channel": "Channel",
    "inbox": "Inbox",
    "team": "Team",
    "stage": "Lifecycle stage",
    "label": "Customer label",
    "attribute": "Custom attribute",
    "priority": "Priority",
    "text": "Message text",
    "hours": "Business hours",
    "first_of_episode": "First message of a stretch of work",
    "automatic": "Sent by a machine",
    "minutes_since_agent_reply": "Minutes since an agent replied",
    "lead_score": "Lead score",
}
OP_NAMES = {
    "is": "is",
    "is_not": "is not",
    "is_empty": "is empty",
    "is_set": "is set",
    "has": "has",
    "has_not": "has not",
    "contains": "contains",
    "not_contains": "does not contain",
    "matches": "matches the pattern",
    "inside": "inside",
    "outside": "outside",
    "more_than": "more than",
    "less_than": "less than",
}
ACTION_NAMES = {
    "assign_agent": "Assign to an agent",
    "assign_team": "Hand to a team's queue",
    "round_robin": "Assign round robin",
    "add_label": "Add a label",
    "remove_label": "Remove a label",
    "set_status": "Set the status",
    "set_priority": "Set the priority",
    "move_stage": "Move the lifecycle stage",
    "hand_owner": "Hand to an owner (round robin)",
    "reply": "Reply to the customer",
    "add_note": "Write a private note",
    "notify": "Notify an agent",
    "webhook": "Send a webhook",
    "enroll_in_sequence": "Enrol in a sequence",
}
# The arguments each action's row asks for (rules/catalog.py's ACTIONS says what they mean).
ACTION_ARGS = {
    "assign_agent": ["agent"],
    "assign_team": ["team"],
    "round_robin": [],
    "add_label": ["label"],
    "remove_label": ["label"],
    "set_status": ["status", "minutes"],
    "set_priority": ["priority"],
    "move_stage": ["stage"],
    "hand_owner": ["team"],
    "reply": ["text"],
    "add_note": ["text"],
    "notify": ["agent", "text"],
    "webhook": ["endpoint"],
    "enroll_in_sequence": ["sequence"],
}
INT_ARGS = ("agent", "team", "label", "endpoint", "minutes", "sequence")
INT_FIELDS = ("inbox", "team", "label", "minutes_since_agent_reply", "lead_score")
BOOL_FIELDS = ("first_of_episode", "automatic")


# --- the form's JSON, forgiving about what a person types in the fallback textarea ------------------------
def _int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    return value


def _json_list(raw: str, what: str) -> list[dict[str, Any]]:
    raw = (raw or "").strip() or "[]"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"The {what} are not valid JSON ({error.msg}, at character {error.pos})."
        ) from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationError(f"The {what} are a JSON list of objects.")
    return value


def _conditions_clean(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for condition in conditions:
        condition = dict(condition)
        field = condition.get("field")
        if field in INT_FIELDS and "value" in condition:
            condition["value"] = _int(condition["value"])
        if field in BOOL_FIELDS:
            condition["value"] = _bool(condition.get("value", True))
        if field == "hours" or (field == "team" and condition.get("op") == "is_empty"):
            condition.pop("value", None)
        cleaned.append(condition)
    return cleaned


def _actions_clean(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for action in actions:
        action = dict(action)
        for key in INT_ARGS:
            if key in action:
                action[key] = _int(action[key])
        if action.get("type") == "set_status" and action.get("status") != Conversation.SNOOZED:
            action.pop("minutes", None)
        cleaned.append(action)
    return cleaned


def _checked(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name, "") in ("1", "on", "true", "yes")


# --- the page -----------------------------------------------------------------------------------------
def _get(model: Any, value: str, what: str) -> Any:
    found = model.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found


def _move(rule: Rule, step: int) -> None:
    """Swap the rule with its neighbour and number the whole order again, 10 apart."""
    with transaction.atomic():
        ordered = list(Rule.objects.select_for_update().order_by("position", "id"))
        index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
        other = index + step
        if 0 <= other < len(ordered):
            ordered[index], ordered[other] = ordered[other], ordered[index]
        for number, each in enumerate(ordered, start=1):
            if each.position != number * 10:
                Rule.objects.filter(pk=each.pk).update(position=number * 10)


@login_required
@require_http_methods(["GET", "POST"])
def rules_page(request: HttpRequest) -> HttpResponse:
    if not agent_sees_everything(request.user):
        raise PermissionDenied("Only admins and managers manage automation rules.")
    user = request.user
    assert isinstance(user, User)
    error = ""
    form: dict[str, Any] | None = None  # the rule form, when open
    macro_form: dict[str, Any] | None = None
    macro_error = ""
    dry_run: dict[str, Any] | None = None
    needs_confirm = False
    out_of_hours_errors: dict[int, str] = {}
    out_of_hours_typed: dict[int, str] = {}

    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "out_of_hours":
            inbox = _get(Inbox, request.POST.get("inbox", ""), "inbox")
            text = request.POST.get("text", "").strip()
            try:
                out_of_hours_rule(by=user, inbox=inbox, text=text, enabled=_checked(request, "enabled"))
                return redirect(f"{PAGE}?saved=ooh-{inbox.pk}#ooh-{inbox.pk}")
            except HubError as failure:
                out_of_hours_errors[inbox.pk] = failure.message
                out_of_hours_typed[inbox.pk] = text
        elif action in ("save", "dry_run"):
            editing = request.POST.get("rule", "")
            rule = _get(Rule, editing, "rule") if editing else None
            form = {
                "id": rule.pk if rule else None,
                "name": request.POST.get("name", ""),
                "event_type": request.POST.get("event_type", "message.received"),
                "conditions_raw": request.POST.get("conditions", "[]"),
                "actions_raw": request.POST.get("actions", "[]"),
                "enabled": _checked(request, "enabled"),
                "stop_after": _checked(request, "stop_after"),
                "confirmed": _checked(request, "confirmed"),
            }
            try:
                conditions = _conditions_clean(_json_list(form["conditions_raw"], "conditions"))
                actions = _actions_clean(_json_list(form["actions_raw"], "actions"))
                form["conditions_raw"] = json.dumps(conditions)
                form["actions_raw"] = json.dumps(actions)
                if action == "dry_run":
                    dry_run = rule_dry_run(
                        event_type=form["event_type"], conditions=conditions, actions=actions
                    )
                    dry_run["touched"] = len({match["conversation"] for match in dry_run["matches"]})
                else:
                    made_rule = rule_save(
                        by=user,
                        rule=rule,
                        name=form["name"],
                        event_type=form["event_type"],
                        conditions=conditions,
                        actions=actions,
                        enabled=form["enabled"],
                        stop_after=form["stop_after"],
                        confirmed=form["confirmed"],
                    )
                    return redirect(f"{PAGE}?saved=rule-{made_rule.pk}#rule-{made_rule.pk}")
            except HubError as failure:
                error = failure.message
                needs_confirm = "no conditions" in error and "confirm" in error
        elif action in ("macro_save", "macro_delete"):
            editing = request.POST.get("macro", "")
            macro = _get(Macro, editing, "macro") if editing else None
            if action == "macro_delete" and macro is not None:
                macro.delete()
                return redirect(f"{PAGE}#macros")
            macro_form = {
                "id": macro.pk if macro else None,
                "name": request.POST.get("name", ""),
                "actions_raw": request.POST.get("actions", "[]"),
            }
            try:
                actions = _actions_clean(_json_list(macro_form["actions_raw"], "actions"))
                macro_form["actions_raw"] = json.dumps(actions)
                made = macro_save(by=user, name=macro_form["name"], actions=actions, macro=macro)
                return redirect(f"{PAGE}?saved=macro-{made.pk}#macro-{made.pk}")
            except HubError as failure:
                macro_error = failure.message
        else:
            rule = _get(Rule, request.POST.get("rule", ""), "rule")
            if action in ("on", "off"):
                rule.enabled = action == "on"
                rule.save(update_fields=["enabled", "updated_at"])
            elif action in ("up", "down"):
                _move(rule, -1 if action == "up" else 1)
            elif action == "delete":
                rule.delete()
                return redirect(f"{PAGE}#rules")
            else:
                raise Http404("Unknown action.")
            return redirect(f"{PAGE}#rule-{rule.pk}")

    # Forms opened by a link: ?new=1, ?edit=<rule id>, ?macro=<id> or ?macro=new
    if form is None:
        wanted = request.GET.get("edit", "")
        if wanted:
            rule = _get(Rule, wanted, "rule")
            form = {
                "id": rule.pk,
                "name": rule.name,
                "event_type": rule.event_type,
                "conditions_raw": json.dumps(rule.conditions),
                "actions_raw": json.dumps(rule.actions),
                "enabled": rule.enabled,
                "stop_after": rule.stop_after,
                "confirmed": rule.event_type == "message.received" and not rule.conditions,
            }
        elif request.GET.get("new"):
            form = {
                "id": None,
                "name": "",
                "event_type": "message.received",
                "conditions_raw": "[]",
                "actions_raw": "[]",
                "enabled": True,
                "stop_after": False,
                "confirmed": False,
            }
    if macro_form is None:
        wanted = request.GET.get("macro", "")
        if wanted == "new":
            macro_form = {"id": None, "name": "", "actions_raw": "[]"}
        elif wanted:
            macro = _get(Macro, wanted, "macro")
            macro_form = {"id": macro.pk, "name": macro.name, "actions_raw": json.dumps(macro.actions)}

    choices = _choices()
    saved = request.GET.get("saved", "")
    out_of_hours = _out_of_hours_rows(out_of_hours_errors, out_of_hours_typed)
    rules = _rule_rows(choices)
    macros: list[dict[str, Any]] = [
        {"macro": macro, "actions": [action_describe(a) for a in macro.actions]}
        for macro in Macro.objects.all()
    ]
    for prefix, rows, key in (
        ("ooh", out_of_hours, "inbox"),
        ("rule", rules, "rule"),
        ("macro", macros, "macro"),
    ):
        for row in rows:
            row["saved"] = saved == f"{prefix}-{row[key].pk}"
    shown = request.GET.get("rule", "")
    log_rule = _get(Rule, shown, "rule") if shown else None
    context = {
        "out_of_hours": out_of_hours,
        "rules": rules,
        "macros": macros,
        "form": form,
        "error": error,
        "needs_confirm": needs_confirm,
        "dry_run": dry_run,
        "macro_form": macro_form,
        "macro_error": macro_error,
        "log_rule": log_rule,
        "runs": (
            list(RuleRun.objects.filter(rule=log_rule).order_by("-id")[:50]) if log_rule is not None else []
        ),
        "events": RULE_EVENTS,
        "catalog": _catalog(choices),
        "is_admin": agent_is_admin(user),
    }
    failed = bool(error or macro_error or out_of_hours_errors)
    return render(request, "rules/rules.html", context, status=400 if failed else 200)


# --- what the page shows -------------------------------------------------------------------------------
def _choices() -> dict[str, list[tuple[Any, str]]]:
    agents = (
        AgentProfile.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("user__first_name", "user__username")
    )
    return {
        "inbox": [(i.pk, i.name) for i in Inbox.objects.order_by("name")],
        "team": [(t.pk, t.name) for t in Team.objects.order_by("name")],
        "label": [(label.pk, label.name) for label in Label.objects.order_by("name")],
        "stage": [(s.key, s.name) for s in Stage.objects.all()],
        "priority": list(Conversation.PRIORITY_CHOICES),
        "channel": CHANNELS,
        "agent": [(a.user.pk, a.user.get_full_name() or a.user.get_username()) for a in agents],
        "status": [(s, s.capitalize()) for s in STATUSES],
        "endpoint": [(e.pk, e.description or e.url) for e in WebhookEndpoint.objects.order_by("id")],
        "sequence": [(s.pk, s.name) for s in Sequence.objects.filter(enabled=True).order_by("name")],
    }


def _catalog(choices: dict[str, list[tuple[Any, str]]]) -> dict[str, Any]:
    """What rules.js needs to build the rows: each field's operators and value kind, each action's args."""
    value_kind = {
        "text": "text",
        "attribute": "attribute",
        "hours": "none",
        "first_of_episode": "bool",
        "automatic": "bool",
        "minutes_since_agent_reply": "number",
        "lead_score": "number",
    }
    return {
        "conditions": [
            {
                "field": field,
                "name": FIELD_NAMES.get(field, field),
                "help": condition.label,
                "ops": [[op, OP_NAMES.get(op, op)] for op in condition.ops],
                "kind": value_kind.get(field, "choice"),
            }
            for field, condition in CONDITIONS.items()
        ],
        "actions": [
            {
                "type": kind,
                "name": ACTION_NAMES.get(kind, kind),
                "help": help_text,
                "args": ACTION_ARGS.get(kind, []),
            }
            for kind, help_text in ACTIONS.items()
        ],
        "macro_actions": list(MACRO_ACTIONS),
        "choices": {key: [[value, label] for value, label in rows] for key, rows in choices.items()},
    }


def _condition_words(condition: dict[str, Any], choices: dict[str, list[tuple[Any, str]]]) -> str:
    field, op, value = str(condition.get("field")), str(condition.get("op")), condition.get("value")
    if field == "hours":
        return f"{op} the inbox's business hours"
    if field == "first_of_episode":
        return "first message of a stretch of work" if value else "not the first message of a stretch"
    if field == "automatic":
        return "sent by a machine" if value else "not an automatic message"
    if field == "team" and op == "is_empty":
        return "no team"
    if field == "attribute":
        key = condition.get("key", "?")
        return (
            f"attribute {key} is set"
            if op == "is_set"
            else f"attribute {key} {OP_NAMES.get(op, op)} “{value}”"
        )
    if field == "minutes_since_agent_reply":
        return f"{OP_NAMES.get(op, op)} {value} minutes since an agent replied"
    if field == "lead_score":
        return f"lead score {OP_NAMES.get(op, op)} {value}"
    if field == "text":
        return f"text {OP_NAMES.get(op, op)} “{value}”"
    named = dict((str(k), name) for k, name in choices.get(str(field), []))
    shown = named.get(str(value), str(value))
    return f"{FIELD_NAMES.get(str(field), str(field)).lower()} {OP_NAMES.get(str(op), str(op))} {shown}"


def _rule_rows(choices: dict[str, list[tuple[Any, str]]]) -> list[dict[str, Any]]:
    last = RuleRun.objects.filter(rule=OuterRef("pk")).order_by("-id")
    rules = list(
        Rule.objects.order_by("position", "id").annotate(
            run_count=Count("runs"),
            last_state=Subquery(last.values("state")[:1]),
            last_at=Subquery(last.values("created_at")[:1]),
        )
    )
    return [
        {
            "rule": rule,
            "conditions": [_condition_words(c, choices) for c in rule.conditions],
            "actions": [action_describe(a) for a in rule.actions],
            "first": index == 0,
            "last": index == len(rules) - 1,
        }
        for index, rule in enumerate(rules)
    ]


def _out_of_hours_rows(errors: dict[int, str], typed: dict[int, str]) -> list[dict[str, Any]]:
    by_inbox: dict[int, Rule] = {}
    for rule in Rule.objects.filter(preset=OUT_OF_HOURS).order_by("id"):
        for condition in rule.conditions:
            if condition.get("field") == "inbox" and isinstance(condition.get("value"), int):
                by_inbox.setdefault(condition["value"], rule)
    rows = []
    for inbox in Inbox.objects.order_by("name"):
        found = by_inbox.get(inbox.pk)
        text = next((a.get("text") for a in (found.actions if found else []) if a.get("type") == "reply"), "")
        rows.append(
            {
                "inbox": inbox,
                "rule": found,
                "on": bool(found and found.enabled),
                "text": typed.get(inbox.pk, text or OUT_OF_HOURS_TEXT),
                "error": errors.get(inbox.pk, ""),
                "has_hours": bool(inbox.business_hours),
                "holidays": list(inbox.holidays or []),
                "hours_link": f"/inbox/settings/{inbox.pk}/hours/",
            }
        )
    return rows
