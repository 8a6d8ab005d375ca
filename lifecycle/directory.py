"""Reads of the Contacts page: every customer the agent may see, found and filtered, a page at a time.

A customer is listed through their lifetime thread, so the one visibility rule (`conversation_visible_to`:
agents see their teams' threads, managers and admins every one) decides here as everywhere, and the
search is the search box's own matcher (`customer_match`). Lives beside the lifecycle because each row
shows the customer's stage and owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from config.errors import NotFound, ValidationError
from contacts.models import AttributeDefinition, Contact, Identity, Label
from contacts.services import attribute_value_clean
from conversations.models import Conversation
from conversations.search import customer_match
from conversations.selectors import UserLike, conversation_visible_to
from lifecycle.models import Stage

PAGE = 50
# Pages reachable by "Next": past them, the agent narrows the search (an offset walks every row before it).
PAGES_MAX = 100
SORTS = {
    "recent": ("-last_activity_at", "-id"),
    "name": ("contact__name", "contact_id"),  # the index contact_name_sort
    "created": (
        "-contact_id",
    ),  # newest customers first: ids grow with time, and the thread's key is indexed
}
EXPORT_CHUNK = 500


@dataclass(frozen=True)
class DirectoryFilters:
    """What the page narrows by: the typed search, a label, a lifecycle stage, one custom attribute's value."""

    query: str = ""
    label_id: int | None = None
    stage_key: str = ""
    attribute_key: str = ""
    attribute_value: str = ""
    sort: str = "recent"

    def __bool__(self) -> bool:
        return bool(self.query or self.label_id or self.stage_key or self.attribute_key)


@dataclass(frozen=True)
class DirectoryRow:
    conversation: Conversation

    @property
    def contact(self) -> Contact:
        return self.conversation.contact

    @property
    def phone(self) -> str:
        return next((i.address for i in self.contact.identities.all() if i.kind == "phone"), "")

    @property
    def email(self) -> str:
        return next((i.address for i in self.contact.identities.all() if i.kind == "email"), "")

    @property
    def stage(self) -> Stage | None:
        lifecycle = getattr(self.contact, "lifecycle", None)
        return lifecycle.stage if lifecycle is not None else None

    @property
    def owner_name(self) -> str:
        ownership = getattr(self.contact, "ownership", None)
        owner = ownership.owner if ownership is not None else None
        return str(owner.get_full_name() or owner.get_username()) if owner is not None else ""

    @property
    def labels(self) -> list[Label]:
        return list(self.contact.labels.all())


@dataclass(frozen=True)
class DirectoryPage:
    rows: list[DirectoryRow]
    page: int
    has_next: bool
    capped: bool  # more rows exist past the last reachable page


def contacts_visible(user: UserLike) -> QuerySet[Conversation]:
    """The threads of the customers `user` may see (one per customer; merged-away customers left out)."""
    return conversation_visible_to(user).filter(contact__merged_into__isnull=True)


def directory_filtered(*, user: UserLike, filters: DirectoryFilters) -> QuerySet[Conversation]:
    """The customers' threads under `filters`, sorted; a filter naming nothing (no such stage) finds nobody."""
    qs = contacts_visible(user)
    if filters.query:
        match = customer_match(filters.query)
        if match is not None:
            by_identity = Q(contact_id__in=match.identities.values("contact_id"))
            if match.by_name:
                # The exact external ids are few: read first, so the name's trigram index serves the rest.
                ids = list(match.identities.values_list("contact_id", flat=True)[:100])
                qs = qs.filter(Q(contact_id__in=ids) | Q(contact__name__icontains=match.text))
            else:
                qs = qs.filter(by_identity)
    if filters.label_id is not None:
        qs = qs.filter(contact__labels__id=filters.label_id)
    if filters.stage_key:
        qs = qs.filter(contact__lifecycle__stage__key=filters.stage_key)
    if filters.attribute_key:
        definition = AttributeDefinition.objects.filter(key=filters.attribute_key).first()
        if definition is None:
            raise ValidationError(f"No custom attribute {filters.attribute_key[:50]!r}.")
        value = attribute_value_clean(definition=definition, value=filters.attribute_value)
        key = f"contact__attributes__{definition.key}"
        qs = qs.filter(**({f"{key}__isnull": False} if value is None else {key: value}))
    return qs.order_by(*SORTS.get(filters.sort, SORTS["recent"]))


def _with_row_fields(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return qs.select_related(
        "contact", "contact__lifecycle__stage", "contact__ownership__owner"
    ).prefetch_related(
        Prefetch("contact__identities", queryset=Identity.objects.order_by("kind", "pk")),
        "contact__labels",
    )


def contact_directory(*, user: UserLike, filters: DirectoryFilters, page: int = 1) -> DirectoryPage:
    """One page of customers (`PAGE` rows), up to page `PAGES_MAX`."""
    page = min(max(page, 1), PAGES_MAX)
    start = (page - 1) * PAGE
    qs = _with_row_fields(directory_filtered(user=user, filters=filters))
    rows = list(qs[start : start + PAGE + 1])
    more = len(rows) > PAGE
    return DirectoryPage(
        rows=[DirectoryRow(conversation=row) for row in rows[:PAGE]],
        page=page,
        has_next=more and page < PAGES_MAX,
        capped=more and page >= PAGES_MAX,
    )


def contact_directory_all(*, user: UserLike, filters: DirectoryFilters) -> Iterator[DirectoryRow]:
    """Every customer under `filters`, read in chunks (the CSV export streams them)."""
    qs = _with_row_fields(directory_filtered(user=user, filters=filters))
    for row in qs.iterator(chunk_size=EXPORT_CHUNK):
        yield DirectoryRow(conversation=row)


def contact_get_visible(*, user: UserLike, contact_id: int) -> Contact:
    """A customer `user` may see; NotFound, the same for another team's as for one that does not exist."""
    contact = Contact.objects.filter(pk=contact_id, conversation__in=contacts_visible(user)).first()
    if contact is None:
        raise NotFound("No such customer.")
    return contact


def directory_choices() -> dict[str, Any]:
    """The filters' options: every label, stage and custom attribute (hub-wide, as the thread's panel shows)."""
    return {
        "labels": list(Label.objects.order_by("name")),
        "stages": list(Stage.objects.all()),
        "attributes": list(AttributeDefinition.objects.all()),
    }
