"""Saved views: an agent's named filter sets for the inbox list, and the query strings they stand for."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from config.errors import NotFound, ValidationError
from config.text import name_clean
from conversations.models import SavedView
from conversations.selectors import CHANNELS, PRIORITY_RANK, SORTS, STATUSES, VIEWS

# The filters a saved view keeps, as the inbox's query string names them.
FILTER_KEYS = ("view", "status", "inbox", "team", "channel", "label", "priority", "score", "sort")


def saved_view_filters_clean(raw: dict[str, Any]) -> dict[str, str]:
    """The filters worth keeping: known keys with values the list accepts (anything else is dropped)."""
    accepted = {
        "view": lambda value: value in VIEWS and value != "all",
        "status": lambda value: value in STATUSES and value != "open",
        "channel": lambda value: value in CHANNELS,
        "inbox": _an_id,
        "team": _an_id,
        "label": _an_id,
        "priority": _a_priority,
        "score": lambda value: value.isdigit() and len(value) <= 4,  # the least lead score shown
        "sort": _a_sort,
    }
    kept: dict[str, str] = {}
    for key in FILTER_KEYS:
        value = str(raw.get(key, "") or "").strip()
        if value and accepted[key](value):
            kept[key] = value
    return kept


def _a_priority(value: str) -> bool:
    return value in PRIORITY_RANK


def _a_sort(value: str) -> bool:
    return value in SORTS and value != "recent"


def _an_id(value: str) -> bool:
    return value.isdigit() and len(value) < 12


def saved_view_query(view: SavedView) -> str:
    return urlencode(saved_view_filters_clean(view.filters if isinstance(view.filters, dict) else {}))


def saved_view_create(*, agent: User, name: str, filters: dict[str, Any]) -> SavedView:
    text = name_clean(name, max_length=SavedView.NAME_MAX, what="a view")
    kept = saved_view_filters_clean(filters)
    try:
        with transaction.atomic():
            return SavedView.objects.create(agent=agent, name=text, filters=kept)
    except IntegrityError:
        raise ValidationError(f"You already have a view named {text!r}.") from None


def saved_view_delete(*, agent: User, view_id: int) -> None:
    """An agent deletes one of their own views; anyone else's id is unknown to them."""
    deleted, _ = SavedView.objects.filter(pk=view_id, agent=agent).delete()
    if not deleted:
        raise NotFound("No such view.")


def saved_view_list(*, agent: User) -> list[SavedView]:
    return list(SavedView.objects.filter(agent=agent).order_by("name"))
