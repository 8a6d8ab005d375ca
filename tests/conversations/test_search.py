"""Full-text search: what an agent finds, how it is shown, and that no string typed can break it."""

from __future__ import annotations

import random
import string
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Entry
from conversations.search import DOCUMENT_SQL, INDEX_NAME, VECTOR_SQL, entry_search
from conversations.services import entry_append, note_add
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db

HOSTILE = [
    "'",
    '"',
    "\\",
    "\\\\'",
    '"unterminated phrase',
    "'; DROP TABLE conversations_entry; --",
    "refund' OR '1'='1",
    "a & b | !c <-> d",
    "refund:*",
    "(((",
    ")",
    "-",
    "or",
    "!!!",
    "<script>alert(1)</script>",
    "%_%",
    "\x00refund",
    "😀 refund",
    "x" * 10_000,
]


@pytest.fixture
def threads(inbox_support: Any, inbox_sales: Any, agent_alice: Any) -> dict[str, Any]:
    """Support's thread (Dana) with a text, a note and an email; Sales' thread (Eve) saying the same word."""
    dana_text = sms_in(inbox_support, "Where is my refund for the blue runners?", phone="+14155550142")
    dana = dana_text.conversation
    note = note_add(conversation=dana, author=agent_alice, body="Refund approved by the warehouse")
    email = entry_append(
        conversation=dana,
        kind="message",
        direction="inbound",
        channel="email",
        inbox=inbox_support,
        subject="Invoice 4471 question",
        body="Hello, see the subject.",
    )
    eve_text = sms_in(inbox_sales, "Can I get a refund on twenty pairs?", phone="+12125550187")
    return {"dana": dana, "text": dana_text, "note": note, "email": email, "eve": eve_text}


def test_an_agent_finds_messages_notes_and_email_subjects_of_threads_they_may_see(
    threads: dict[str, Any], agent_alice: Any
) -> None:
    page = entry_search(user=agent_alice, query="refund")
    found = [hit.entry.pk for hit in page.hits]
    assert found == [threads["note"].pk, threads["text"].pk], "newest first, Sales' thread left out"
    assert "<mark>refund</mark>" in page.hits[1].headline.lower()
    [subject_hit] = entry_search(user=agent_alice, query="invoice 4471").hits
    assert subject_hit.entry.pk == threads["email"].pk


def test_managers_search_every_thread(threads: dict[str, Any], manager_maria: Any) -> None:
    found = {hit.entry.pk for hit in entry_search(user=manager_maria, query="refund").hits}
    assert threads["eve"].pk in found and threads["text"].pk in found


def test_a_call_transcript_is_found(inbox_support: Any, agent_alice: Any) -> None:
    call = sms_in(inbox_support, "", phone="+14155550142")
    Entry.objects.filter(pk=call.pk).update(
        kind="call", channel="voice", body="Caller asked about a warranty claim"
    )
    [hit] = entry_search(user=agent_alice, query="warranty").hits
    assert hit.entry.pk == call.pk


def test_web_search_syntax_works(threads: dict[str, Any], agent_alice: Any) -> None:
    assert [h.entry.pk for h in entry_search(user=agent_alice, query='"blue runners"').hits] == [
        threads["text"].pk
    ]
    assert [h.entry.pk for h in entry_search(user=agent_alice, query="refund -warehouse").hits] == [
        threads["text"].pk
    ]
    assert {h.entry.pk for h in entry_search(user=agent_alice, query="warehouse or invoice").hits} == {
        threads["note"].pk,
        threads["email"].pk,
    }


@pytest.mark.parametrize("query", HOSTILE)
def test_no_string_typed_breaks_search(threads: dict[str, Any], agent_alice: Any, query: str) -> None:
    page = entry_search(user=agent_alice, query=query)
    assert all(hit.entry.conversation_id == threads["dana"].pk for hit in page.hits)
    assert Entry.objects.filter(pk=threads["text"].pk).exists()


@pytest.mark.parametrize("query", HOSTILE)
def test_no_string_typed_breaks_the_search_page_or_the_api(
    threads: dict[str, Any], alice_client: Client, agent_alice: Any, query: str
) -> None:
    page = alice_client.get("/inbox/search/", {"q": query})
    assert page.status_code == 200
    api = APIClient()
    api.force_authenticate(agent_alice)
    response = api.get("/api/v1/search/", {"q": query})
    assert response.status_code == 200, response.content
    assert isinstance(response.json()["results"], list)


def test_the_highlight_is_escaped_customer_text(inbox_support: Any, agent_alice: Any) -> None:
    sms_in(
        inbox_support,
        'Price 5 < 6 & "refund" \ue000evil\ue001 <img src=x onerror=alert(1)>',
        phone="+14155550142",
    )
    [hit] = entry_search(user=agent_alice, query="refund").hits
    assert "<mark>refund</mark>" in hit.headline
    assert "&lt;" in hit.headline and "&amp;" in hit.headline and "&quot;" in hit.headline
    assert "<img" not in hit.headline
    assert hit.headline.count("<mark>") == 1, "markers in the customer's text are not ours"


def test_the_search_page_shows_escaped_highlights_and_links_to_the_entry(
    threads: dict[str, Any], alice_client: Client
) -> None:
    sms_in(threads["text"].inbox, "<b>bold</b> refund request", conversation=threads["dana"])
    html = alice_client.get("/inbox/search/", {"q": "refund"}).content.decode()
    assert (
        f'href="/inbox/{threads["dana"].pk}/?entry={threads["text"].pk}#entry-{threads["text"].pk}"' in html
    )
    assert "<mark>refund</mark>" in html.lower()
    assert "<b>bold</b>" not in html
    assert "twenty pairs" not in html, "Sales' thread stays out of Support's results"


def test_a_multi_megabyte_email_is_stored_and_found(inbox_support: Any, agent_alice: Any) -> None:
    # Distinct words: without the cap this body's tsvector would pass PostgreSQL's 1 MB limit and fail.
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(600_000)]
    body = "needle " + " ".join(words)
    assert len(body) > 5_000_000
    entry = sms_in(inbox_support, body, phone="+14155550142")
    [hit] = entry_search(user=agent_alice, query="needle").hits
    assert hit.entry.pk == entry.pk
    assert entry_search(user=agent_alice, query=words[-1]).hits == [], "past the cap is not indexed"


def test_the_query_is_served_by_the_gin_index(threads: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT id FROM conversations_entry WHERE {VECTOR_SQL} @@ websearch_to_tsquery('simple', %s)",
            ["refund"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert INDEX_NAME in plan, plan
    assert "left(" in DOCUMENT_SQL


def texts(inbox: Any, thread: Conversation, words: str, numbers: range, days_ago: int) -> list[Entry]:
    """Texts `<words> <n>` in the thread, a minute apart, starting `days_ago` days back."""
    start = timezone.now() - timedelta(days=days_ago)
    return [
        entry_append(
            conversation=thread,
            kind="message",
            direction="inbound",
            channel="sms",
            inbox=inbox,
            body=f"{words} {n}",
            created_at=start + timedelta(minutes=n),
        )
        for n in numbers
    ]


def test_results_page_back_in_time(inbox_support: Any, agent_alice: Any) -> None:
    thread = sms_in(inbox_support, "order 1", phone="+14155550142").conversation
    texts(inbox_support, thread, "order", range(2, 26), days_ago=1)
    first = entry_search(user=agent_alice, query="order")
    assert len(first.hits) == 20 and first.next_cursor is not None
    rest = entry_search(user=agent_alice, query="order", before=first.next_cursor)
    assert len(rest.hits) == 5 and rest.next_cursor is None
    assert not {h.entry.pk for h in first.hits} & {h.entry.pk for h in rest.hits}


def test_the_api_answers_hits_with_their_thread_and_pages(threads: dict[str, Any], agent_alice: Any) -> None:
    api = APIClient()
    api.force_authenticate(agent_alice)
    body = api.get("/api/v1/search/", {"q": "refund"}).json()
    assert [r["entry"]["id"] for r in body["results"]] == [threads["note"].pk, threads["text"].pk]
    first = body["results"][1]
    assert first["conversation"] == threads["dana"].pk
    assert first["url"] == f"/inbox/{threads['dana'].pk}/?entry={threads['text'].pk}"
    assert "<mark>" in first["headline"].lower()
    assert body["next"] is None
    bad = api.get("/api/v1/search/", {"q": "refund", "cursor": "yesterday"})
    assert bad.status_code == 404 and "cursor" in bad.json()["detail"]


def test_the_substring_path_for_sqlite_finds_and_escapes(
    threads: dict[str, Any], agent_alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded mode's path (no tsvector), run here on the same rows (recorded first, on PostgreSQL's
    own path: what a message sets off, a lead score among it, is not the search's to pretend about)."""
    sms_in(threads["text"].inbox, "<i>x</i> REFUND now", conversation=threads["dana"])
    monkeypatch.setattr(connection, "vendor", "sqlite")
    page = entry_search(user=agent_alice, query="refund")
    assert len(page.hits) == 3
    assert "&lt;i&gt;x&lt;/i&gt; <mark>REFUND</mark> now" in page.hits[0].headline


# --- opening a thread at a hit ----------------------------------------------------------------------
@pytest.fixture
def long_thread(inbox_support: Any) -> tuple[Conversation, list[Entry]]:
    first = sms_in(inbox_support, "message 0", phone="+14155550142")
    thread = first.conversation
    entries = [first, *texts(inbox_support, thread, "message", range(1, 160), days_ago=10)]
    entries.sort(key=lambda e: (e.created_at, e.pk))
    return thread, entries


def test_a_hit_opens_its_thread_at_the_entry(
    long_thread: tuple[Conversation, list[Entry]], alice_client: Client
) -> None:
    thread, entries = long_thread
    hit = entries[20]
    html = alice_client.get(f"/inbox/{thread.pk}/", {"entry": hit.pk}).content.decode()
    assert f'data-focus-entry="{hit.pk}"' in html
    assert f'id="entry-{hit.pk}"' in html
    assert f'id="entry-{entries[-1].pk}"' not in html, "the newest entries are loaded when scrolled to"
    assert 'class="load-newer"' in html and 'class="load-older"' not in html
    newer_url = html.split('class="load-newer" data-url="')[1].split('"')[0].replace("&amp;", "&")
    newer = alice_client.get(newer_url).content.decode()
    assert f'id="entry-{entries[46].pk}"' in newer and f'id="entry-{hit.pk}"' not in newer


def test_a_date_opens_the_thread_there(
    long_thread: tuple[Conversation, list[Entry]], alice_client: Client
) -> None:
    thread, entries = long_thread
    target = entries[100]
    html = alice_client.get(
        f"/inbox/{thread.pk}/", {"at": target.created_at.date().isoformat()}
    ).content.decode()
    assert "data-focus-entry" in html


def test_another_teams_entry_in_the_url_is_a_404(
    long_thread: tuple[Conversation, list[Entry]], inbox_sales: Any, alice_client: Client
) -> None:
    thread, _ = long_thread
    theirs = sms_in(inbox_sales, "secret", phone="+12125550187")
    assert alice_client.get(f"/inbox/{thread.pk}/", {"entry": theirs.pk}).status_code == 404
    assert alice_client.get(f"/inbox/{theirs.conversation_id}/", {"entry": theirs.pk}).status_code == 404


@pytest.mark.integration
def test_the_embedded_sqlite_hub_searches(tmp_path: Path) -> None:
    """`make run`'s database: the demo data, searched through the same selector."""
    from tests.test_embedded import bare_env, manage

    env = bare_env(tmp_path, 0)
    manage(env, "migrate", "--noinput")
    manage(env, "load_demo")
    script = (
        "from django.contrib.auth.models import User; from django.db import connection\n"
        "from conversations.search import entry_search\n"
        "sam = User.objects.get(username='sam')\n"
        "print(connection.vendor, [str(h.headline) for h in entry_search(user=sam, query='socks').hits])\n"
    )
    out = manage(env, "shell", "-c", script)
    assert "sqlite [" in out, out
    assert "<mark>socks</mark>" in out, out
