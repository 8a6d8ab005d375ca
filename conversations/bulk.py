"""Bulk actions on a selection of the list: each thread goes through the same service, and the same
permission check, as the single action would; one thread refused does not stop the others."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User

from config.errors import HubError, NotFound, ValidationError
from contacts.models import Label
from conversations.customers import contact_update
from conversations.models import Conversation
from conversations.services import conversation_assign, conversation_get_visible, conversation_set_status

BULK_MAX = 500
ACTIONS = ("assign", "label", "resolve")


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def conversations_bulk_apply(
    *, user: User, conversation_ids: list[int], action: str, value: str = ""
) -> BulkResult:
    """Assign (`value`: "me", "" for nobody, or an agent's id), label (`value`: a label id) or resolve threads."""
    if action not in ACTIONS:
        raise ValidationError(f"Unknown bulk action {action[:40]!r}; use assign, label or resolve.")
    wanted = list(dict.fromkeys(conversation_ids))
    if not wanted:
        raise ValidationError("Select some conversations first.")
    if len(wanted) > BULK_MAX:
        raise ValidationError(f"At most {BULK_MAX} conversations at once.")
    assignee: User | None = None
    label: Label | None = None
    if action == "assign":
        if value == "me":
            assignee = user
        elif value:
            assignee = User.objects.filter(pk=int(value), is_active=True).first() if value.isdigit() else None
            if assignee is None:
                raise NotFound("No such agent.")
    elif action == "label":
        label = Label.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if label is None:
            raise NotFound("No such label; an admin creates labels.")
    result = BulkResult()
    for conversation_id in wanted:
        try:
            conversation = conversation_get_visible(user=user, conversation_id=conversation_id)
            _apply(conversation, user=user, action=action, assignee=assignee, label=label)
        except HubError as error:
            result.refused.append((conversation_id, error.message))
        else:
            result.done.append(conversation_id)
    return result


def _apply(
    conversation: Conversation, *, user: User, action: str, assignee: User | None, label: Label | None
) -> None:
    if action == "assign":
        conversation_assign(conversation=conversation, assignee=assignee, by=user)
    elif action == "resolve":
        conversation_set_status(conversation=conversation, status=Conversation.RESOLVED, by=user)
    elif label is not None:
        current: list[int | str] = list(conversation.contact.labels.values_list("pk", flat=True))
        if label.pk not in current:
            contact_update(contact=conversation.contact, by=user, labels=[*current, label.pk])
