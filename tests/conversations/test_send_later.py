""" "Send later": a reply scheduled from the composer at a time in the agent's zone goes out when due through
the follow-ups' periodic job, and not at all once cancelled from the thread."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from reports.models import ScheduledFollowUp
from reports.services import followups_send_due

pytestmark = pytest.mark.django_db

CUSTOMER = "+14155550142"


def later(client, conversation, when: str, body: str = "Your pair is ready for pickup.", **extra):
    return client.post(
        f"/inbox/{conversation.pk}/reply/",
        {"body": body, "kind": "message", "channel": "sms", "send_later": "1", "send_at": when, **extra},
    )


def test_a_reply_sent_later_goes_out_when_due_and_not_before(
    sms_thread, alice_client, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    # 9:00 tomorrow in the agent's zone (New York), as the browser sends it: with its offset.
    tomorrow = (timezone.now() + timedelta(days=1)).astimezone(ZoneInfo("America/New_York"))
    nine = tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)
    response = later(alice_client, sms_thread, nine.isoformat())
    assert response.status_code == 201, response.content
    followup = ScheduledFollowUp.objects.get()
    assert (followup.due_at, followup.body, followup.channel) == (
        nine,
        "Your pair is ready for pickup.",
        "sms",
    )
    assert not followup.cancel_on_reply
    # The thread says so, with a way to cancel it.
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert f'action="/reports/followups/{followup.pk}/cancel/"' in page

    with django_capture_on_commit_callbacks(execute=True):
        assert followups_send_due(now=nine - timedelta(minutes=1)) == 0
    assert fake_twilio.messages == []
    with django_capture_on_commit_callbacks(execute=True):
        assert followups_send_due(now=nine + timedelta(seconds=30)) == 1
    [sent] = fake_twilio.wait_for_messages(1)
    assert (sent["to"], sent["body"]) == (CUSTOMER, "Your pair is ready for pickup.")


def test_a_cancelled_reply_is_never_sent(
    sms_thread, alice_client, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    due = timezone.now() + timedelta(hours=2)
    assert later(alice_client, sms_thread, due.isoformat()).status_code == 201
    followup = ScheduledFollowUp.objects.get()
    assert alice_client.post(f"/reports/followups/{followup.pk}/cancel/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert followups_send_due(now=due + timedelta(minutes=1)) == 0
    assert fake_twilio.messages == []
    followup.refresh_from_db()
    assert followup.state == ScheduledFollowUp.CANCELLED


@pytest.mark.parametrize(
    ("when", "extra", "reason"),
    [
        ("2020-01-01T09:00+00:00", {}, "is in the past"),
        ("", {}, "Pick when the reply should go out"),
        ("tomorrow", {}, "is not a time"),
        ("2099-01-01T09:00+00:00", {"kind": "note"}, "only a reply can be sent later"),
    ],
)
def test_send_later_refuses_with_the_reason(sms_thread, alice_client, when, extra, reason) -> None:
    response = later(alice_client, sms_thread, when, **extra)
    assert response.status_code == 400 and reason in response.json()["error"]
    assert not ScheduledFollowUp.objects.exists()


def test_files_are_not_scheduled_silently(sms_thread, alice_client) -> None:
    due = (timezone.now() + timedelta(hours=2)).isoformat()
    response = later(alice_client, sms_thread, due, files=SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n"))
    assert response.status_code == 400 and "send the files now" in response.json()["error"]
    assert not ScheduledFollowUp.objects.exists()
