"""Voice fixtures: Twilio's callbacks posted signed, to the URLs the hub's own TwiML handed out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from conversations.models import AgentProfile
from tests.conftest import PUBLIC_BASE_URL

CUSTOMER = "+14155550142"
ALICE_PHONE = "+14155550111"
CAROL_PHONE = "+14155550122"
CALL_SID = "CA5f2c3b4a1e0d9c8b7a6f5e4d3c2b1a09"


def twiml(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return root


def verbs(root: ElementTree.Element) -> list[str]:
    return [child.tag for child in root]


@pytest.fixture
def voice_post(twilio_post, django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Post a voice callback to a path or to a full URL from the hub's TwiML, and run what it enqueues."""

    def post(target: str, params: dict[str, str], **kwargs: Any) -> Any:
        if target.startswith("http"):
            assert target.startswith(PUBLIC_BASE_URL + "/"), target
            parts = urlsplit(target)
            target, kwargs["query"] = parts.path, parts.query
        with django_capture_on_commit_callbacks(execute=True):
            return twilio_post(target, params, **kwargs)

    return post


@pytest.fixture
def phones(agent_alice) -> dict[str, Any]:
    """Alice (Support) has a phone and is online; Carol (Support) too; Olga (Support) is offline."""
    from tests import factories

    AgentProfile.objects.filter(user=agent_alice).update(phone=ALICE_PHONE)
    team = agent_alice.agent.teams.get()
    carol = factories.agent("agent_carol", teams=(team,))
    AgentProfile.objects.filter(user=carol).update(phone=CAROL_PHONE)
    olga = factories.agent("agent_olga", teams=(team,))
    AgentProfile.objects.filter(user=olga).update(phone="+14155550133", availability=AgentProfile.OFFLINE)
    return {"alice": agent_alice, "carol": carol, "olga": olga}
