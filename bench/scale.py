"""Reads at scale, server time: the newest page of a 100,000-entry thread, the inbox list over 1,000,000 threads.

The data set is built once with SQL (generate_series) in its own database and kept between runs
(`--rebuild` builds it again). Times are measured inside one Django process through the test client:
the whole request (middleware, queries, template), no network.

    .venv/bin/python bench/scale.py [--rebuild] [--quick]
    .venv/bin/python bench/scale.py --search [--rebuild] [--quick]   # full-text search over 5,000,000 entries
                                        # (BENCH_SEARCH_ENTRIES and BENCH_SEARCH_DATABASE_URL change size and place)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DATABASE,
    Figure,
    data_set_build,
    hub_env,
    manage,
    measured_in_django,
    percentile,
    psql,
    requests_time,
)

SCALE_DATABASE = os.environ.get("BENCH_SCALE_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_scale")
THREADS = 1_000_000
THREAD_ENTRIES = 100_000
MARKER = f"threads={THREADS} entries={THREAD_ENTRIES} v4"

WORDS = [
    "order",
    "shipping",
    "refund",
    "size",
    "blue",
    "trail",
    "runner",
    "return",
    "exchange",
    "invoice",
    "discount",
    "delivery",
    "tracking",
    "warranty",
    "store",
    "pickup",
    "payment",
    "card",
    "address",
    "account",
    "password",
    "thanks",
    "hello",
    "question",
    "stock",
    "price",
]

SETUP = """
from conversations.models import AgentProfile, Inbox, Team
from django.contrib.auth.models import User
support, sales = Team.objects.create(name="Support"), Team.objects.create(name="Sales")
for n, team in enumerate([support, support, sales, sales]):
    Inbox.objects.create(name=f"Line {n}", kind="phone", address=f"+1415555010{n}", team=team)
for n in range(20):
    user = User.objects.create_user(f"agent{n}", password="bench-password-123")
    AgentProfile.objects.create(user=user, role="agent").teams.set([support if n % 2 == 0 else sales])
"""

# The mix of a real inbox: most threads resolved, some open or pending, a third unassigned, some waiting.
POPULATE = f"""
INSERT INTO contacts_contact (id, name, attributes, created_at, updated_at)
SELECT g, 'Customer ' || g, '{{}}', now() - (g % 700) * interval '1 day', now()
FROM generate_series(1, {THREADS}) g;
INSERT INTO contacts_identity (kind, address, raw_address, verified, is_valid, created_at, contact_id)
SELECT 'phone', '+1' || (2000000000 + g)::text, '+1' || (2000000000 + g)::text, true, true, now(), g
FROM generate_series(1, {THREADS}) g;
INSERT INTO conversations_conversation (id, status, created_at, last_activity_at, waiting_since,
    last_inbound_at, last_inbound_channel, last_preview, last_preview_direction, assignee_id, contact_id,
    last_inbound_inbox_id, team_id, version)
SELECT g,
    CASE WHEN g % 10 < 7 THEN 'resolved' WHEN g % 10 < 9 THEN 'open' ELSE 'pending' END,
    now() - interval '2 years',
    now() - (g::float / {THREADS}) * interval '730 days' - (g % 97) * interval '1 minute',
    CASE WHEN g % 10 = 7 AND g % 3 = 0 THEN now() - (g % 1000) * interval '1 minute' END,
    now() - (g % 700) * interval '1 day', 'sms',
    'Hi, is the blue trail runner in stock in a size ' || (g % 14), 'inbound',
    CASE WHEN g % 3 = 0 THEN NULL ELSE (SELECT min(id) FROM auth_user) + (g % 19) END,
    g, (SELECT min(id) FROM conversations_inbox) + (g % 4),
    NULL, 1
FROM generate_series(1, {THREADS}) g;
INSERT INTO conversations_conversationinbox (created_at, conversation_id, inbox_id, status, assignee_id, waiting,
    last_activity_at)
SELECT now(), id, last_inbound_inbox_id, status, assignee_id, waiting_since IS NOT NULL, last_activity_at
FROM conversations_conversation;
SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), {THREADS});
SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), {THREADS});
"""

LONG_THREAD = f"""
INSERT INTO conversations_entry (kind, channel, direction, body, subject, event_type, data, created_at,
    updated_at, delivery_status, status_reason, provider, provider_id, from_address, to_address, attempts,
    version, conversation_id, inbox_id)
SELECT 'message', 'sms', CASE WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    (ARRAY{WORDS!r})[1 + g % {len(WORDS)}] || ' ' || (ARRAY{WORDS!r})[1 + (g * 7) % {len(WORDS)}]
        || ' message number ' || g || ', thanks for getting back to me so quickly about the order',
    '', '', '{{}}', now() - ({THREAD_ENTRIES} - g) * interval '10 minutes', now(),
    CASE WHEN g % 2 = 0 THEN '' ELSE 'delivered' END, '', 'twilio', 'SMbench' || g, '', '', 0, 1,
    1, (SELECT min(id) FROM conversations_inbox)
FROM generate_series(1, {THREAD_ENTRIES}) g;
UPDATE conversations_conversation SET last_activity_at = now(), status = 'open' WHERE id = 1;
UPDATE conversations_conversationinbox SET last_activity_at = now(), status = 'open' WHERE conversation_id = 1;
"""


def build(rebuild: bool) -> None:
    data_set_build(
        database=SCALE_DATABASE,
        marker=MARKER,
        table="bench_scale_marker",
        port=8999,
        setup=SETUP,
        sql=[POPULATE, LONG_THREAD],
        what=f"the scale data set ({THREADS:,} threads, a {THREAD_ENTRIES:,}-entry thread)",
        rebuild=rebuild,
    )


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the scale database."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from conversations.models import Inbox

    agent = User.objects.get(username="agent0")  # Support: two of the four inboxes, half the threads
    inbox = Inbox.objects.filter(team__name="Support").order_by("id").first()
    assert inbox is not None
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(agent)
    from conversations.models import Entry

    middle = (
        Entry.objects.filter(conversation_id=1)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[THREAD_ENTRIES // 2]
    )
    urls = {
        "thread": "/inbox/1/entries/",
        "at a hit": f"/inbox/1/?entry={middle}",
        "thread api": "/api/v1/contacts/1/timeline/",
        "page": "/inbox/1/",
        "mine": "/inbox/?view=mine",
        "unassigned": "/inbox/?view=unassigned",
        "unanswered": "/inbox/?view=unanswered",
        "by inbox": f"/inbox/?inbox={inbox.pk}",
        **{name: f"/contacts/?{urlencode(params)}" for name, params in CONTACTS_PAGES.items()},
    }
    times = requests_time(client, urls, repeat)
    times.update(_customers_find_time(agent, repeat))
    return times


# What an agent types to find a customer among the 1,000,000 (phones +1 2000000001...; names "Customer <n>"),
# each one of the threads agent0 sees (g % 4 in 0, 1: a Support inbox).
CUSTOMER_QUERIES = {
    "customers: last four digits": "4240",
    "customers: a phone typed another way": "(200) 061-4240",
    "customers: part of a name": "tomer 614240",
}


# The Contacts page as agent0 opens it: its own query (visibility, sorted by activity, stage and owner joined,
# a page of 50), not customers_find's; each URL must answer 200 and is timed whole (query and template).
CONTACTS_PAGES = {
    "contacts: first page": {},
    "contacts: last four digits": {"q": "4240"},
    "contacts: part of a name": {"q": "tomer 614240"},
    "contacts: sorted by name": {"sort": "name"},
    "contacts: newest customers": {"sort": "created"},
}


def _customers_find_time(agent: Any, repeat: int, warm: int = 3) -> dict[str, dict[str, float]]:
    """customers_find itself (what the search box runs first), for an agent who sees half the threads."""
    from conversations.search import customers_find

    out: dict[str, dict[str, float]] = {}
    for name, query in CUSTOMER_QUERIES.items():
        times = []
        for n in range(repeat + warm):
            began = time.perf_counter()
            found = customers_find(user=agent, query=query)
            elapsed = (time.perf_counter() - began) * 1000
            assert found, (name, query)
            if n >= warm:
                times.append(elapsed)
        out[name] = {"median": statistics.median(times), "p95": percentile(times, 0.95)}
    return out


def figures(*, quick: bool = False, rebuild: bool = False) -> list[Figure]:
    build(rebuild)
    times = measured_in_django(__file__, SCALE_DATABASE, 8999, 10 if quick else 40)
    figs = [
        Figure(
            f"newest page of a {THREAD_ENTRIES:,}-entry thread (server time, median)",
            times["thread"]["median"],
            "ms",
            30.0,
            note=f"p95 {times['thread']['p95']:.1f} ms; the thread's newest 50 entries as the inbox page loads them",
        ),
        Figure(
            f"newest page of a {THREAD_ENTRIES:,}-entry thread through the API (server time, median)",
            times["thread api"]["median"],
            "ms",
            30.0,
            note=f"p95 {times['thread api']['p95']:.1f} ms; GET /api/v1/contacts/<id>/timeline/",
        ),
        Figure(
            f"whole inbox page with the {THREAD_ENTRIES:,}-entry thread opened at a search hit in its middle "
            "(server time, median)",
            times["at a hit"]["median"],
            "ms",
            None,
            note=f"p95 {times['at a hit']['p95']:.1f} ms; /inbox/<id>/?entry=<id>: the 50 entries around it, "
            "the customer panel, the list",
        ),
        Figure(
            "whole inbox page with that thread open (server time, median)",
            times["page"]["median"],
            "ms",
            None,
            note=f"p95 {times['page']['p95']:.1f} ms; list of 50, four capped counts and the thread, for reference",
        ),
    ]
    for name, query in CUSTOMER_QUERIES.items():
        figs.append(
            Figure(
                f"finding a customer among {THREADS:,}, {name.split(': ', 1)[1]} (p95)",
                times[name]["p95"],
                "ms",
                100.0,
                note=f"median {times[name]['median']:.1f} ms; customers_find({query!r}) as agent0 (half the threads)",
            )
        )
    for name, params in CONTACTS_PAGES.items():
        figs.append(
            Figure(
                f"Contacts page over {THREADS:,} customers, {name.split(': ', 1)[1]} (server time, p95)",
                times[name]["p95"],
                "ms",
                100.0,
                note=f"median {times[name]['median']:.1f} ms; /contacts/?{urlencode(params)} as agent0 "
                "(half the threads), page of 50",
            )
        )
    for view in ("mine", "unassigned", "unanswered", "by inbox"):
        figs.append(
            Figure(
                f"inbox list over {THREADS:,} threads, {view} (server time, median)",
                times[view]["median"],
                "ms",
                50.0,
                note=f"p95 {times[view]['p95']:.1f} ms; first page of 50 and every view's count capped at 1,000",
            )
        )
    return figs


# --- full-text search ---------------------------------------------------------------------------------
SEARCH_DATABASE = os.environ.get(
    "BENCH_SEARCH_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_search"
)
SEARCH_ENTRIES = int(os.environ.get("BENCH_SEARCH_ENTRIES", "5000000"))
SEARCH_BATCH = 500_000
VOCABULARY = 4000


def _vocabulary() -> list[str]:
    """Pseudo-words, the same every run: a few very common, most rare (picked with a skewed distribution)."""
    import random

    rng = random.Random(20261122)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "gu", "shi", "ber", "tan"]
    words = list(dict.fromkeys(WORDS))
    while len(words) < VOCABULARY:
        word = "".join(rng.choices(syllables, k=rng.randint(2, 4)))
        if word not in words:
            words.append(word)
    return words


def _search_sql(entries: int) -> list[str]:
    """Threads, then entries in batches: twelve words each from the vocabulary (rank skewed by power 2)."""
    threads = max(10, entries // 100)
    words = _vocabulary()
    array = "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]::text[]"
    pick = f"v.w[1 + floor({len(words)} * power(random(), 2))::int]"
    sentence = "array_to_string(ARRAY[" + ", ".join([pick] * 12) + "], ' ')"
    statements = [
        f"""
INSERT INTO contacts_contact (id, name, attributes, created_at, updated_at)
SELECT g, 'Customer ' || g, '{{}}', now(), now() FROM generate_series(1, {threads}) g;
INSERT INTO conversations_conversation (id, status, created_at, last_activity_at, last_inbound_channel,
    last_preview, last_preview_direction, contact_id, last_inbound_inbox_id, version)
SELECT g, 'open', now(), now() - g * interval '1 minute', 'sms', 'hello', 'inbound', g,
    (SELECT min(id) FROM conversations_inbox) + (g % 4), 1
FROM generate_series(1, {threads}) g;
INSERT INTO conversations_conversationinbox (created_at, conversation_id, inbox_id, status, assignee_id, waiting,
    last_activity_at)
SELECT now(), id, last_inbound_inbox_id, status, assignee_id, false, last_activity_at
FROM conversations_conversation;
SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), {threads});
SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), {threads});
"""
    ]
    for start in range(0, entries, SEARCH_BATCH):
        stop = min(entries, start + SEARCH_BATCH)
        statements.append(
            f"""
WITH v AS (SELECT {array} AS w)
INSERT INTO conversations_entry (kind, channel, direction, body, subject, event_type, data, created_at,
    updated_at, delivery_status, status_reason, provider, provider_id, from_address, to_address, attempts,
    version, conversation_id, inbox_id)
SELECT CASE WHEN g % 10 = 0 THEN 'note' ELSE 'message' END,
    CASE WHEN g % 10 = 0 THEN '' WHEN g % 20 = 1 THEN 'email' ELSE 'sms' END,
    CASE WHEN g % 10 = 0 THEN 'internal' WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    {sentence}, CASE WHEN g % 20 = 1 THEN 'Re: ' || {pick} ELSE '' END, '', '{{}}',
    now() - ({entries} - g) * interval '1 second', now(), '', '', '', '', '', '', 0, 1,
    1 + g % {threads}, (SELECT min(id) FROM conversations_inbox) + (g % 4)
FROM generate_series({start + 1}, {stop}) g, v;
"""
        )
    return statements


def search_build(rebuild: bool, entries: int = SEARCH_ENTRIES) -> None:
    admin = SEARCH_DATABASE.rsplit("/", 1)[0] + "/postgres"
    name = SEARCH_DATABASE.rsplit("/", 1)[1]
    marker = f"entries={entries} vocabulary={VOCABULARY} v1"
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"
    if exists and not rebuild:
        try:
            if psql(SEARCH_DATABASE, "SELECT marker FROM bench_search_marker").strip() == marker:
                manage(hub_env(8999, database=SEARCH_DATABASE), "migrate", "-v0")
                return
        except subprocess.CalledProcessError:
            pass
    print(f"building the search data set ({entries:,} entries)...", flush=True)
    started = time.perf_counter()
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    env = hub_env(8999, database=SEARCH_DATABASE)
    manage(env, "migrate", "-v0")
    manage(
        env,
        "shell",
        "-c",
        SETUP + "\nUser.objects.create_user('manager0', password='bench-password-123');"
        "AgentProfile.objects.create(user=User.objects.get(username='manager0'), role='manager')",
    )
    # The index the migration made is built again once the rows are in (faster than row by row).
    index = psql(SEARCH_DATABASE, "SELECT pg_get_indexdef('entry_search'::regclass)").strip()
    psql(SEARCH_DATABASE, "DROP INDEX entry_search")
    for statement in _search_sql(entries):
        psql(SEARCH_DATABASE, statement)
    psql(SEARCH_DATABASE, index)
    psql(SEARCH_DATABASE, "VACUUM ANALYZE")
    psql(
        SEARCH_DATABASE,
        f"CREATE TABLE bench_search_marker (marker text); INSERT INTO bench_search_marker VALUES ('{marker}')",
    )
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)


def search_queries() -> dict[str, str]:
    """What agents type: a common word, a middling one, a rare one, two words, a phrase, a miss, hostile text."""
    words = _vocabulary()
    return {
        "common word": words[30],
        "middling word": words[800],
        "rare word": words[3500],
        "two words": f"{words[200]} {words[900]}",
        "phrase": f'"{words[40]} {words[60]}"',
        "no match": "zzzzqqqq",
        "hostile": "'; DROP TABLE x; -- \\ \" or -",
    }


def measure_search(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the search database: every query as a manager and an agent."""
    import django

    django.setup()
    from urllib.parse import urlencode

    from django.contrib.auth.models import User
    from django.test import Client

    out: dict[str, dict[str, float]] = {}
    every: list[float] = []
    for who in ("manager0", "agent0"):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(username=who))
        for name, query in search_queries().items():
            times = []
            for n in range(repeat + 2):
                began = time.perf_counter()
                response = client.get("/api/v1/search/?" + urlencode({"q": query}))
                elapsed = (time.perf_counter() - began) * 1000
                assert response.status_code == 200, (query, response.status_code)
                if n >= 2:  # warm
                    times.append(elapsed)
            every += times
            out[f"{who} {name}"] = {"median": statistics.median(times), "p95": percentile(times, 0.95)}
    out["all"] = {"median": statistics.median(every), "p95": percentile(every, 0.95)}
    return out


def search_figures(*, quick: bool = False, rebuild: bool = False) -> list[Figure]:
    entries = SEARCH_ENTRIES
    search_build(rebuild, entries)
    times = measured_in_django(__file__, SEARCH_DATABASE, 8999, 5 if quick else 20, flag="--measure-search")
    slowest = max((k for k in times if k != "all"), key=lambda k: times[k]["p95"])
    return [
        Figure(
            f"full-text search over {entries:,} entries, p95",
            times["all"]["p95"],
            "ms",
            200.0,
            note=f"median {times['all']['median']:.1f} ms; GET /api/v1/search/ (20 newest hits, highlighted) "
            f"for common, rare, two-word, phrase, missing and hostile queries as a manager and an agent; "
            f"slowest: {slowest} p95 {times[slowest]['p95']:.1f} ms",
        )
    ] + [
        # Each query on its own line, so a slow one is named rather than hidden in the whole's p95.
        Figure(
            f"search over {entries:,} entries: {name} (median)",
            found["median"],
            "ms",
            note=f"p95 {found['p95']:.1f} ms",
        )
        for name, found in times.items()
        if name != "all"
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(int(sys.argv[2]))))
    elif len(sys.argv) > 2 and sys.argv[1] == "--measure-search":
        print(json.dumps(measure_search(int(sys.argv[2]))))
    elif "--search" in sys.argv:
        for figure in search_figures(quick="--quick" in sys.argv, rebuild="--rebuild" in sys.argv):
            print(figure)
    else:
        for figure in figures(quick="--quick" in sys.argv, rebuild="--rebuild" in sys.argv):
            print(figure)
