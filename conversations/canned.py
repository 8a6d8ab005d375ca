"""Canned responses: saved replies with a fixed set of variables, filled in without a template engine.

Agents write these texts, so they never reach Django's template engine (which would let `{{ ... }}`
read whatever the context holds): `canned_render` replaces exactly the names in `VARIABLES`, and leaves
anything else as typed, so an agent sees a variable the hub does not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q

from config.errors import NotFound, PermissionDenied, ValidationError
from contacts.models import Contact
from conversations.models import CannedResponse
from conversations.selectors import agent_is_admin

_VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _identity(contact: Contact, kind: str) -> str:
    for identity in contact.identities.all():
        if identity.kind == kind:
            return identity.address
    return ""


def _last_name(name: str) -> str:
    parts = name.split()
    return " ".join(parts[1:]) if len(parts) > 1 else ""


def _agent(agent: User | None, part: str) -> str:
    """The agent's name, or, for the hub's own message (a rule's reply), the team's."""
    if agent is None:
        return "" if part in ("last_name", "email") else "the team"
    if part == "name":
        return agent.get_full_name() or agent.get_username()
    if part == "first_name":
        return agent.first_name or agent.get_username()
    return str(getattr(agent, part))


VARIABLES: dict[str, Callable[[Contact, User | None], str]] = {
    "contact.name": lambda contact, agent: contact.name,
    "contact.first_name": lambda contact, agent: contact.first_name,
    "contact.last_name": lambda contact, agent: _last_name(contact.name),
    "contact.email": lambda contact, agent: _identity(contact, "email"),
    "contact.phone": lambda contact, agent: _identity(contact, "phone"),
    "agent.name": lambda contact, agent: _agent(agent, "name"),
    "agent.first_name": lambda contact, agent: _agent(agent, "first_name"),
    "agent.last_name": lambda contact, agent: _agent(agent, "last_name"),
    "agent.email": lambda contact, agent: _agent(agent, "email"),
}


def canned_render(*, text: str, contact: Contact, agent: User | None) -> str:
    """The text with each known variable replaced by its value (plain text: the composer shows it as typed)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        fill = VARIABLES.get(name)
        return fill(contact, agent) if fill is not None else match.group(0)

    return _VARIABLE.sub(value, text)


def canned_list(*, query: str = "", limit: int = 20) -> list[CannedResponse]:
    """The canned responses whose shortcut starts with, or whose title contains, `query`."""
    qs = CannedResponse.objects.all()
    text = query.strip().lstrip("/")[: CannedResponse.SHORTCUT_MAX]
    if text:
        qs = qs.filter(Q(shortcut__istartswith=text) | Q(title__icontains=text))
    return list(qs.order_by("shortcut")[:limit])


def canned_save(
    *, by: User, shortcut: str, title: str, body: str, canned: CannedResponse | None = None
) -> CannedResponse:
    """Create a canned response, or change one (its author or an admin)."""
    if canned is not None and not (canned.created_by_id == by.pk or agent_is_admin(by)):
        raise PermissionDenied("Only its author or an admin changes this canned response.")
    slug = shortcut.strip().lstrip("/").lower()
    if not slug:
        raise ValidationError("A canned response needs a shortcut, e.g. thanks (typed as /thanks).")
    if len(slug) > CannedResponse.SHORTCUT_MAX:
        raise ValidationError(f"A shortcut can be at most {CannedResponse.SHORTCUT_MAX} characters.")
    if not _SHORTCUT.match(slug):
        raise ValidationError("A shortcut is letters, digits, - and _ (no spaces), e.g. refund-policy.")
    name = " ".join(title.split()) or slug
    if len(name) > CannedResponse.TITLE_MAX:
        raise ValidationError(f"A title can be at most {CannedResponse.TITLE_MAX} characters.")
    text = body.strip()
    if not text:
        raise ValidationError("A canned response needs some text.")
    if len(text) > CannedResponse.BODY_MAX:
        raise ValidationError(f"A canned response can be at most {CannedResponse.BODY_MAX} characters.")
    clash = CannedResponse.objects.filter(shortcut=slug)
    if canned is not None:
        clash = clash.exclude(pk=canned.pk)
    if clash.exists():
        raise ValidationError(f"/{slug} is taken; pick another shortcut.")
    try:
        with transaction.atomic():
            if canned is None:
                return CannedResponse.objects.create(shortcut=slug, title=name, body=text, created_by=by)
            canned.shortcut, canned.title, canned.body = slug, name, text
            canned.save(update_fields=["shortcut", "title", "body", "updated_at"])
            return canned
    except IntegrityError as error:
        raise ValidationError(f"/{slug} is taken; pick another shortcut.") from error


def canned_delete(*, by: User, canned: CannedResponse) -> None:
    if not (canned.created_by_id == by.pk or agent_is_admin(by)):
        raise PermissionDenied("Only its author or an admin deletes this canned response.")
    canned.delete()


def canned_get(*, canned_id: int) -> CannedResponse:
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise NotFound("No such canned response.")
    return canned
