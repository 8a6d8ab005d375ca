"""A satisfaction answer by email: the reply above the quoted question is the rating; the thread stays resolved."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.services import conversation_set_status
from reports.models import SatisfactionResponse, SatisfactionSurvey
from tests.channels_adapters.email.conftest import deliver_email, eml, inbox_email  # noqa: F401

ANSWER = """From: Sam Carter <sam.carter@gmail.example>
To: Shoes Support <support@shoes.example>
Subject: Re: Your return label
Message-ID: <answer-{n}@mail.gmail.example>
In-Reply-To: <CAFb3x=Ym9vdGhzLWFyZS1ncmVhdA9+Qw@mail.gmail.com>
Date: Wed, 13 Nov 2024 12:00:00 -0800
Content-Type: text/plain; charset="UTF-8"

{body}

On Wed, Nov 13, 2024 at 11:02 AM Shoes Support <support@shoes.example> wrote:

> How did we do? Reply with a number from 1 (poor) to 5 (great).
"""


@pytest.fixture
def resolved_email_thread(
    deliver_email: Any,  # noqa: F811
    inbox_email: Any,  # noqa: F811
    agent_alice: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> Any:
    """Sam emailed; Alice resolved: the question goes out by email (to the sandbox)."""
    settings.EMAIL_SANDBOX = True
    conversation = deliver_email(eml("gmail")).conversation
    with django_capture_on_commit_callbacks(execute=True):
        conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    return conversation


@pytest.mark.django_db
def test_an_email_rating_is_recorded_without_reopening(
    resolved_email_thread: Any,
    deliver_email: Any,  # noqa: F811
) -> None:
    conversation = resolved_email_thread
    survey = SatisfactionSurvey.objects.get()
    assert (survey.state, survey.channel) == ("asked", "email"), survey.reason
    assert survey.question is not None and survey.question.to_address == "sam.carter@gmail.example"
    answer = deliver_email(ANSWER.format(n=1, body="4 stars").encode())
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert answer is not None and answer.conversation_id == conversation.pk
    assert SatisfactionResponse.objects.get().rating == 4


@pytest.mark.django_db
def test_an_email_paragraph_reopens(
    resolved_email_thread: Any,
    deliver_email: Any,  # noqa: F811
) -> None:
    conversation = resolved_email_thread
    deliver_email(ANSWER.format(n=2, body="The label printed blank, can you send it again?").encode())
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert not SatisfactionResponse.objects.exists()
