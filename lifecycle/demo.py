"""Stage histories for the demo data, so Reports → Funnel shows a funnel on a fresh machine."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import User

from contacts.services import contact_resolve
from conversations.models import Entry, Inbox
from conversations.selectors import inbox_visible_to
from conversations.services import conversation_assign, conversation_get_or_create, entry_append
from lifecycle.models import Stage
from lifecycle.services import contact_stage_ensure, stage_move, touchpoint_record

FIRST_NAMES = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jesse", "Kai", "Logan", "Morgan",
               "Noel", "Parker", "Quinn", "Reese", "Rowan", "Sage", "Taylor", "Wren", "Yael"]  # fmt: skip
LAST_NAMES = [
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Ford",
    "Garcia",
    "Hill",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
]
QUESTIONS = ["Do you have the trail runner in size 10?", "What are your store hours on Sunday?",
             "Can I get a quote for 12 pairs?", "Do you ship to Canada?", "Is there a student discount?"]  # fmt: skip


def demo_histories_load(*, now: datetime, inboxes: list[Inbox], agents: list[User], count: int = 60) -> None:
    """`count` customers first heard from over the last four months, each taken some way down the funnel."""
    rng = random.Random(8)  # the same demo every time
    stages = {stage.key: stage for stage in Stage.objects.all()}
    for n in range(count):
        first = now - timedelta(days=rng.uniform(1, 120), minutes=rng.randint(0, 600))
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        contact, _ = contact_resolve(kind="phone", address=f"+1212555{1000 + n:04d}", name=name)
        conversation = conversation_get_or_create(contact=contact)
        inbox = rng.choice(inboxes)
        agent = rng.choice([user for user in agents if inbox_visible_to(user).filter(pk=inbox.pk).exists()])
        if n % 10 == 9:  # a newsletter sign-up who never wrote
            contact_stage_ensure(contact=contact, at=first, channel="api")
            stage_move(
                contact=contact, stage=stages["subscriber"], by=None, reason="newsletter sign-up", at=first
            )
            continue
        entry_append(
            conversation=conversation,
            kind=Entry.MESSAGE,
            direction=Entry.INBOUND,
            channel="sms",
            inbox=inbox,
            body=rng.choice(QUESTIONS),
            created_at=first,
            from_address=f"+1212555{1000 + n:04d}",
            to_address=inbox.address,
        )  # fmt: skip  (the first message: a lead)
        if rng.random() < 0.8:
            entry_append(
                conversation=conversation, kind=Entry.MESSAGE, direction=Entry.OUTBOUND, channel="sms", inbox=inbox,
                body="Thanks for writing! Let me check for you.", author=agent, delivery_status=Entry.DELIVERED,
                created_at=first + timedelta(minutes=rng.randint(3, 240)),
            )  # fmt: skip
            conversation_assign(conversation=conversation, assignee=agent, by=agent)
        when = first + timedelta(hours=rng.uniform(2, 48))
        for key, odds in (("qualified", 0.65), ("opportunity", 0.6)):
            if when >= now or rng.random() > odds:
                if rng.random() < 0.3 and when < now:
                    stage_move(
                        contact=contact, stage=stages["lost"], by=agent, reason="went elsewhere", at=when
                    )
                break
            stage_move(contact=contact, stage=stages[key], by=agent, at=when)
            when += timedelta(days=rng.uniform(1, 10))
        else:
            for order in range(1 + (rng.random() < 0.35)):
                if when >= now:
                    break
                touchpoint_record(
                    contact=contact, type="purchase", client_key=f"demo-order-{n}-{order}", occurred_at=when,
                    payload={"order": f"{4000 + n * 3 + order}", "total": f"{rng.randint(60, 400)}.00"},
                )  # fmt: skip
                when += timedelta(days=rng.uniform(5, 30))
