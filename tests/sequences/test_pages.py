"""The sequences page for managers, and the customer panel's enrol and take-out buttons for agents."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sequences.models import Enrollment, Sequence
from sequences.services import sequence_save
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db
PAGE = "/inbox/settings/sequences/"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_manager_writes_the_steps_one_a_line_and_a_bad_line_loses_nothing(
    manager_maria: Any, agent_alice: Any
) -> None:
    maria = _client(manager_maria)
    typed = "message: Thanks for your order!\nwait 7 days\nsend a postcard"
    page = maria.post(PAGE, {"action": "save", "name": "After the purchase", "steps": typed, "enabled": "1"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Line 3 (&#x27;send a postcard&#x27;) is not a step" in html
    assert "send a postcard</textarea>" in html  # as typed
    assert not Sequence.objects.exists()

    fixed = typed.replace("send a postcard", "wait 3 business days\ntask: Call them")
    saved = maria.post(
        PAGE,
        {
            "action": "save",
            "name": "After the purchase",
            "steps": fixed,
            "enabled": "1",
            "exit_on_stage_change": "1",
        },
    )
    assert saved.status_code == 302
    sequence = Sequence.objects.get()
    assert sequence.steps[2] == {"type": "wait", "days": 3, "business_days": True}
    listing = maria.get(PAGE).content.decode()
    assert "1. a message: “Thanks for your order!”" in listing and "3. wait 3 business days" in listing
    assert "0 in it · 0 finished · 0 left · 0 failed" in listing

    assert _client(agent_alice).get(PAGE).status_code == 403


def test_an_agent_enrols_from_the_customer_panel_and_takes_them_out(
    agent_alice: Any, agent_bob: Any, inbox_support: Any
) -> None:
    sequence = sequence_save(
        by=None, name="Win back", steps=[{"type": "wait", "days": 3}, {"type": "task", "text": "Call"}]
    )
    conversation = sms_in(inbox_support, "Hi").conversation
    alice = _client(agent_alice)
    url = f"/inbox/{conversation.pk}/sequences/"

    assert _client(agent_bob).post(url, {"sequence": sequence.pk}).status_code == 404  # not his thread
    answer = alice.post(url, {"sequence": sequence.pk})
    assert answer.json() == {"ok": True, "redirect": f"/inbox/{conversation.pk}/"}
    again = alice.post(url, {"sequence": sequence.pk})
    assert again.status_code == 400 and "already in the sequence “Win back”" in again.json()["error"]

    panel = alice.get(f"/inbox/{conversation.pk}/").content.decode()
    assert "<strong>Win back</strong>" in panel and "0 of 2 steps done" in panel

    enrollment = Enrollment.objects.get()
    assert alice.post(url, {"remove": enrollment.pk}).json()["ok"] is True
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "removed")
    panel = alice.get(f"/inbox/{conversation.pk}/").content.decode()
    assert "Win back: left, taken out by an agent" in panel


def test_the_ready_made_sequences_are_added_once_and_can_be_edited(manager_maria: Any) -> None:
    maria = _client(manager_maria)
    sequence_save(by=None, name="win back", steps=[{"type": "task", "text": "Mine"}])  # taken already

    answer = maria.post(PAGE, {"action": "ready_made"})
    assert answer.status_code == 302 and "added=2" in answer["Location"]
    names = sorted(Sequence.objects.values_list("name", flat=True))
    assert names == ["After the purchase", "New lead nurture", "win back"]
    after = Sequence.objects.get(name="After the purchase")
    assert [step["type"] for step in after.steps] == ["message", "wait", "message", "wait", "message"]
    assert "Add the ready-made ones" not in maria.get(PAGE).content.decode()
