"""Stored XSS, in Debian's Chromium: every string a customer (or an admin) controls, on every page that
shows it, on the first load and when it arrives live over the websocket.

Each payload sets `window.__xss = 1` if it ever runs. Customer text arrives through the real webhook and
Celery worker; replies and notes through the agent's composer; the rest (an assignee's name, MMS media
details, events, sandbox records, inbox settings) is written where the hub writes it. Pages are opened as
an agent and as an admin: nothing runs, no element is made from the text, and the text reads as sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from playwright.sync_api import Page, expect
from twilio.request_validator import RequestValidator

from conversations.models import AgentProfile, Attachment, Conversation, Entry, Inbox
from conversations.selectors import conversation_visible_to
from conversations.services import event_append
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=1>",
    "<svg><script>window.__xss=1</script></svg>",
    '<a href="javascript:window.__xss=1">open your order</a>',
    '<a href="data:text/html,<script>window.__xss=1</script>">data link</a>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "<details open ontoggle=window.__xss=1>",
    '"><img src=x onerror=window.__xss=1>',
    "'><img src=x onerror=window.__xss=1>",
    "<img src=x onerror=window.__xss=1",
    "<div><p>unclosed <b>bold <img src=x onerror=window.__xss=1",
    "Thanks! <b>bold</b> & <i>more</i> <img src=x onerror=window.__xss=1> done",
    "</textarea></title><script>window.__xss=1</script>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    "{{ 7*7 }} {% now 'Y' %} ${7*7} {{constructor.constructor('window.__xss=1')()}}",
    "javascript:window.__xss=1",
]
PASSWORD = "correct horse battery staple"

# What the pages may not contain inside `root` once customer text is on them. The hub's own icons (the composer's
# Attach and Later buttons, a file's icon) are the one kind of svg the templates write, always as
# `<svg class="icon" aria-hidden="true" focusable="false">`, which no payload below spells; their attributes are
# checked like any element's.
FIND_ACTIVE_CONTENT = """(root) => {
  const found = [];
  const hubIcon = (el) => el.tagName.toLowerCase() === 'svg' && el.classList.contains('icon')
    && el.getAttribute('aria-hidden') === 'true' && el.getAttribute('focusable') === 'false';
  for (const el of document.querySelectorAll(root + ' *')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'svg', 'math', 'object', 'embed', 'details', 'style'].includes(tag) && !hubIcon(el)) {
      found.push(tag);
    }
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) found.push(tag + '[' + attr.name + ']');
      if (['href', 'src', 'srcdoc', 'action'].includes(attr.name) && /^\\s*(javascript|data):/i.test(attr.value)) {
        found.push(tag + '[' + attr.name + '=' + attr.value.slice(0, 30) + ']');
      }
    }
  }
  return found;
}"""


def post_inbound(live_hub: Any, params: dict[str, str]) -> None:
    """A Twilio webhook, signed as Twilio signs it, to the live hub."""
    url = f"{live_hub.url}/webhooks/twilio/messaging/"
    base = {"AccountSid": ACCOUNT_SID, "To": SUPPORT_NUMBER, "NumMedia": "0", "ApiVersion": "2010-04-01"}
    form = {**base, **params, "SmsSid": params["MessageSid"]}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code == 200, response.text


def customer(n: int) -> str:
    return f"+1415555{2000 + n:04d}"


class Watch:
    """window.__xss and dialogs, checked on every page the browser shows."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def inert(self, where: str, root: str = "main") -> None:
        self.page.wait_for_timeout(150)  # an onerror/onload fires right after parsing; give it the chance
        assert self.page.evaluate("typeof window.__xss") == "undefined", where
        assert self.dialogs == [], where
        assert self.page.evaluate(FIND_ACTIVE_CONTENT, root) == [], where

    def shows(self, texts: list[str], root: str = "main") -> None:
        visible = self.page.locator(root).inner_text()
        missing = [text for text in texts if text not in visible]
        assert missing == [], f"not shown as text on {self.page.url}: {missing}"


def check_threads(live_hub: Any, page: Page, watch: Watch, conversations: Any) -> None:
    """Each thread's page: nothing runs, every message body and the contact's name read as sent."""
    for conversation in conversations.select_related("contact"):
        page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
        page.wait_for_selector("#connection[data-state=live]")
        watch.inert(f"thread {conversation.pk}")
        for entry in conversation.entries.filter(kind="message"):
            assert page.locator(f"#entry-{entry.pk} .entry-body").text_content() == entry.body
        expect(page.locator("#thread-header h1")).to_have_text(conversation.contact.display_name)


def test_hostile_strings_are_inert_text_everywhere_they_are_shown(
    live_hub, browser, tmp_path, settings
) -> None:
    # --- what customers send, through the webhook and the worker ------------------------------------
    for n, payload in enumerate(PAYLOADS):
        post_inbound(
            live_hub,
            {"MessageSid": f"SM{n:032d}", "From": customer(n), "Body": payload, "ProfileName": payload},
        )
    hostile_sender = PAYLOADS[1]
    post_inbound(live_hub, {"MessageSid": "SM" + "e" * 32, "From": hostile_sender, "Body": "from nowhere"})
    hostile_number = PAYLOADS[0]
    post_inbound(
        live_hub,
        {"MessageSid": "SM" + "f" * 32, "From": customer(90), "To": hostile_number, "Body": "misrouted"},
    )
    wait_until(lambda: Entry.objects.filter(direction="inbound").count() == len(PAYLOADS) + 2, timeout=60)

    # --- what else the hub shows: media details, events, an agent's name, inbox settings, the sandbox -
    first = Conversation.objects.get(contact__identities__address=customer(0))
    message = first.entries.get(direction="inbound")
    Attachment.objects.create(entry=message, position=0, declared_content_type=PAYLOADS[2], state="pending")
    Attachment.objects.create(entry=message, position=1, state="failed", error=PAYLOADS[3])
    stored = Attachment.objects.create(
        entry=message,
        position=2,
        state="stored",
        content_type="application/pdf",
        filename=PAYLOADS[4],
        size=4,
    )
    stored.file.save("x.pdf", ContentFile(b"%PDF"))
    event_append(conversation=first, event_type="contact.note", body=PAYLOADS[5])
    renamed = factories.agent(
        "agent_mallory", teams=tuple((live_hub.inbox.team and [live_hub.inbox.team]) or [])
    )
    renamed.first_name, renamed.last_name = PAYLOADS[8], ""
    renamed.save()
    Conversation.objects.filter(pk=first.pk).update(assignee=renamed)
    live_hub.inbox.name = "Support " + PAYLOADS[7]
    live_hub.inbox.save()
    Inbox.objects.create(name=PAYLOADS[9], kind=Inbox.PHONE, messaging_service_sid=PAYLOADS[10])
    ada = factories.agent("admin_ada", role=AgentProfile.ADMIN)
    ada.is_staff = ada.is_superuser = True
    ada.save()

    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    try:
        # --- an agent: the list, then every thread, on first load -----------------------------------
        live_hub.login(page)
        page.goto(f"{live_hub.url}/inbox/?status=all")
        watch.inert("the inbox list")
        watch.shows(PAYLOADS)  # names and previews
        alice = User.objects.get(username="agent_alice")
        hers = set(conversation_visible_to(alice).values_list("pk", flat=True))
        check_threads(live_hub, page, watch, Conversation.objects.filter(pk__in=hers))
        page.goto(f"{live_hub.url}/inbox/{first.pk}/")
        watch.shows([PAYLOADS[2], PAYLOADS[3], PAYLOADS[4], PAYLOADS[5], PAYLOADS[8], PAYLOADS[7]])

        # --- the agent answers and notes in that thread: drawn from the server's HTML, live ------------
        page.wait_for_selector("#connection[data-state=live]")
        for n, text in enumerate([PAYLOADS[11], PAYLOADS[12]]):
            if n == 1:
                page.check("input[name=kind][value=note]")
            page.fill("#reply-body", text)
            page.click("#composer button[type=submit]")
            expect(page.locator(".entry-body", has_text=text[:20]).last).to_have_text(text)
        watch.inert("the thread after a reply and a note")

        # --- customers write while the agent watches: entries and rows over the websocket -------------
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        live = [PAYLOADS[13], PAYLOADS[14], PAYLOADS[15], PAYLOADS[16]]
        for n, payload in enumerate(live[:2]):
            post_inbound(live_hub, {"MessageSid": f"SM{500 + n:032d}", "From": customer(0), "Body": payload})
        for n, payload in enumerate(live[2:]):
            post_inbound(
                live_hub,
                {
                    "MessageSid": f"SM{600 + n:032d}",
                    "From": customer(70 + n),
                    "Body": payload,
                    "ProfileName": payload,
                },
            )
        for payload in live[:2]:
            expect(page.locator(".entry-body", has_text=payload[:15]).last).to_have_text(
                payload, timeout=20_000
            )
        for n, payload in enumerate(live[2:]):
            conversation_id = wait_until(
                lambda n=n: (
                    Conversation.objects.filter(contact__identities__address=customer(70 + n))
                    .values_list("pk", flat=True)
                    .first()
                ),
                timeout=20,
            )
            row = page.locator(f"#conv-{conversation_id}")
            expect(row.locator(".row-name")).to_have_text(payload, timeout=20_000)
            expect(row.locator(".row-preview")).to_have_text(payload)
        assert navigations == [], "live updates must not reload the page"
        watch.inert("the thread after live updates")
        watch.inert("the list after live updates", root="#conversation-list")

        # --- the sandbox: what would have been sent ---------------------------------------------------
        from channels_adapters.sandbox import sandbox_record

        settings.SANDBOX_DIR = live_hub.env["HUB_VAR_DIR"] + "/sandbox"
        for entry in Entry.objects.filter(direction="outbound"):
            sandbox_record(
                channel=PAYLOADS[0],
                prefix="SM",
                record={
                    "to": PAYLOADS[1],
                    "from": PAYLOADS[2],
                    "body": entry.body,
                    "reference": str(entry.pk),
                },
            )
        page.goto(f"{live_hub.url}/inbox/sandbox/")
        watch.inert("the sandbox page")
        watch.shows([PAYLOADS[0], PAYLOADS[1], PAYLOADS[2], PAYLOADS[11]])
        context.close()

        # --- an admin: the same pages, the settings page and the Django admin ---------------------------
        context = browser.new_context()
        page = context.new_page()
        watch = Watch(page)
        live_hub.login(page, username="admin_ada")
        for path in ("/inbox/?status=all", f"/inbox/{first.pk}/", "/inbox/sandbox/"):
            page.goto(f"{live_hub.url}{path}")
            watch.inert(f"{path} as an admin")
        # The threads only managers and admins see (the unrouted number, the sender that is no number).
        check_threads(live_hub, page, watch, Conversation.objects.exclude(pk__in=hers))
        page.goto(f"{live_hub.url}/inbox/settings/")
        watch.inert("the inbox settings page")
        watch.shows(
            [live_hub.inbox.name, PAYLOADS[9], PAYLOADS[10], PAYLOADS[0]]
        )  # PAYLOADS[0]: unrouted number
        for path, texts in (
            ("/admin/contacts/contact/", PAYLOADS[:5]),
            ("/admin/conversations/inbox/", [PAYLOADS[9], PAYLOADS[10]]),
            ("/admin/conversations/conversation/", PAYLOADS[:3]),
        ):
            page.goto(f"{live_hub.url}{path}")
            watch.inert(path, root="#result_list")
            watch.shows(texts, root="#result_list")
    finally:
        context.close()


def test_the_check_itself_catches_a_payload_that_runs(live_hub, page) -> None:
    """The detector is not blind: the same checks fail on a page where a payload did run."""
    live_hub.login(page)
    watch = Watch(page)
    page.evaluate(
        "(html) => document.querySelector('main').insertAdjacentHTML('beforeend', html)", PAYLOADS[1]
    )
    with pytest.raises(AssertionError):
        watch.inert("a page with a live payload")
    assert json.loads(page.evaluate("JSON.stringify(window.__xss)")) == 1
