"""Full-text search over every thread an agent may see: messages, notes, email subjects, call transcripts.

On PostgreSQL an expression GIN index serves the match (migration `entry_search`): the document is an
entry's subject and body, capped at `DOCUMENT_CAP` characters so a huge email never exceeds tsvector's
1 MB limit, under the `simple` configuration (no stemming, no stop words): customers write in many
languages, and a word is found as written whatever the language. The query goes through
`websearch_to_tsquery`, which reads any string a person types (quotes, `-`, `or`, backslashes, SQL) as
words and never raises. The highlight comes from `ts_headline` with private-use characters as markers;
the text is escaped before the markers become `<mark>`, so customer text cannot turn into HTML.

Elsewhere (the embedded SQLite) a case-insensitive substring match does the same job, slower.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.db import connections
from django.db.models import BooleanField, CharField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Reverse
from django.utils.safestring import SafeString, mark_safe

from contacts.models import Identity
from conversations.models import Conversation, Entry
from conversations.selectors import (
    EntryCursor,
    UserLike,
    agent_sees_everything,
    conversation_visible_to,
    entry_visible_to,
)

# Characters of an entry indexed (and searched); the rest of a multi-megabyte email is not.
DOCUMENT_CAP = 100_000
QUERY_MAX = 500
PAGE = 20
# Private-use code points: ts_headline's markers, stripped from the text first so only ours remain.
_START, _STOP = "\ue000", "\ue001"

_TABLE = Entry._meta.db_table
DOCUMENT_SQL = f'left("{_TABLE}"."subject" || \' \' || "{_TABLE}"."body", {DOCUMENT_CAP})'
# The index's expression, character for character what the WHERE clause says, so the planner uses it.
VECTOR_SQL = f"to_tsvector('simple'::regconfig, {DOCUMENT_SQL})"
INDEX_NAME = "entry_search"  # made by the migration conversations 0008, on PostgreSQL only
_QUERY_SQL = "websearch_to_tsquery('simple'::regconfig, %s)"
_HEADLINE_OPTIONS = (
    f'StartSel="{_START}", StopSel="{_STOP}", '
    'MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SearchHit:
    entry: Entry
    headline: SafeString


@dataclass(frozen=True)
class SearchPage:
    query: str
    hits: list[SearchHit]
    next_cursor: EntryCursor | None


@dataclass(frozen=True)
class CustomerHit:
    conversation: Conversation
    matched: str  # what matched: the name, or the address


@dataclass(frozen=True)
class CustomerMatch:
    """How a typed query finds customers: the identities it names, and whether names are searched too."""

    text: str
    identities: QuerySet[Identity]
    by_name: bool


def customer_match(query: str) -> CustomerMatch | None:
    """The one matcher of customers (the search box, the Contacts page); None for a query too short to search.

    A phone in any format, or its last four digits or more: the stored E.164 address ends with those digits
    (an index on the reversed address). An email: its beginning. Otherwise any part of the name (trigrams), or
    an external id exactly.
    """
    text = search_query_clean(query)
    if len(text) < 2:
        return None
    digits = re.sub(r"\D", "", text)
    phone_like = len(digits) >= 4 and re.fullmatch(r"[\d\s()+.\-]+", text) is not None
    if "@" in text:
        matched = Identity.objects.filter(kind="email", address__startswith=text.lower())
    elif phone_like:
        matched = Identity.objects.annotate(reversed_address=Reverse("address")).filter(
            kind="phone", reversed_address__startswith=digits[::-1]
        )
    else:
        matched = Identity.objects.filter(kind="external", address=text)
    return CustomerMatch(text=text, identities=matched, by_name=not phone_like and "@" not in text)


def customers_find(*, user: UserLike, query: str, limit: int = 8) -> list[CustomerHit]:
    """The customers (with their lifetime thread) the agent may see whose name, phone or email matches `query`
    (`customer_match`), identities first, latest activity first."""
    match = customer_match(query)
    if match is None:
        return []
    text, matched = match.text, match.identities
    threads = conversation_visible_to(user).filter(contact__merged_into__isnull=True)
    by_identity = threads.filter(contact__identities__in=matched.values("pk"))
    by_name = threads.filter(contact__name__icontains=text) if match.by_name else None
    rows = list(by_identity.select_related("contact").order_by("-last_activity_at")[:limit])
    if by_name is not None and len(rows) < limit:
        seen = {row.pk for row in rows}
        rows += [
            row
            for row in by_name.select_related("contact").order_by("-last_activity_at")[:limit]
            if row.pk not in seen
        ][: limit - len(rows)]
    addresses = dict(
        Identity.objects.filter(contact_id__in=[row.contact_id for row in rows])
        .filter(pk__in=matched.values("pk"))
        .values_list("contact_id", "address")
    )
    return [
        CustomerHit(conversation=row, matched=addresses.get(row.contact_id, row.contact.name)) for row in rows
    ]


def search_query_clean(query: str) -> str:
    """What is searched for: whitespace folded, at most `QUERY_MAX` characters, NUL bytes dropped."""
    return " ".join(query.replace("\x00", " ").split())[:QUERY_MAX]


def entry_search(
    *, user: UserLike, query: str, before: EntryCursor | None = None, limit: int = PAGE
) -> SearchPage:
    """Entries of the threads `user` may see that match `query`, newest first, each with a highlight."""
    text = search_query_clean(query)
    if not text:
        return SearchPage(query=text, hits=[], next_cursor=None)
    # Managers and admins see every thread: no semi-join over every conversation for them.
    qs = Entry.objects.all() if agent_sees_everything(user) else entry_visible_to(user)
    postgres = connections[qs.db].vendor == "postgresql"
    if postgres:
        # The SQL is this module's constants; what the agent typed travels only as a parameter.
        match = RawSQL(f"{VECTOR_SQL} @@ {_QUERY_SQL}", (text,), output_field=BooleanField())  # noqa: S611
        qs = qs.filter(match)
        marked = f"translate({DOCUMENT_SQL}, %s, '')"
        qs = qs.annotate(
            headline_raw=RawSQL(  # noqa: S611
                f"ts_headline('simple'::regconfig, {marked}, {_QUERY_SQL}, %s)",
                (_START + _STOP, text, _HEADLINE_OPTIONS),
                output_field=CharField(),
            )
        )
    else:
        qs = qs.filter(Q(body__icontains=text) | Q(subject__icontains=text))
    if before is not None:
        qs = qs.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    rows = list(
        qs.select_related("conversation__contact", "author", "inbox").order_by("-created_at", "-id")[
            : limit + 1
        ]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    hits = [
        SearchHit(
            entry=row,
            headline=_highlight(row.headline_raw) if postgres else _substring_headline(row, text),  # type: ignore[attr-defined]
        )
        for row in rows
    ]
    last = rows[-1] if more and rows else None
    return SearchPage(
        query=text, hits=hits, next_cursor=EntryCursor(last.created_at, last.pk) if last else None
    )


def _highlight(raw: str) -> SafeString:
    """ts_headline's text, escaped, with its markers (and only those) turned into <mark>."""
    escaped = html.escape(raw or "", quote=True)
    return mark_safe(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S308


def _substring_headline(entry: Entry, text: str, around: int = 80) -> SafeString:
    """The SQLite path's highlight: the first occurrence with some context, escaped, marked."""
    document = f"{entry.subject} {entry.body}".strip()[:DOCUMENT_CAP]
    at = document.lower().find(text.lower())
    if at < 0:
        return mark_safe(html.escape(document[: 2 * around]))  # noqa: S308
    start, end = max(0, at - around), at + len(text)
    before, match, after = document[start:at], document[at:end], document[end : end + around]
    return mark_safe(  # noqa: S308
        ("… " if start else "")
        + html.escape(before)
        + "<mark>"
        + html.escape(match)
        + "</mark>"
        + html.escape(after)
        + (" …" if end + around < len(document) else "")
    )
