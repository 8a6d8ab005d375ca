"""An HTML email in Debian's Chromium: shown formatted, with nothing of it able to run.

Every payload of the stored-XSS list travels as an email's HTML, its text part, its subject and its sender's
name, through the same pipeline the MTA pipe uses; the agent opens the thread and the formatted view.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from channels_adapters.email.services import email_store
from conversations.models import Conversation, Entry, Inbox
from tests.security.browser.test_stored_xss import FIND_ACTIVE_CONTENT, PAYLOADS, Watch

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def html_email(
    n: int, html: str, *, subject: str = "Formatted", name: str = "Hana Ito", text: str = ""
) -> bytes:
    alternative = (
        f'Content-Type: multipart/alternative; boundary="alt{n}"\r\n\r\n'
        + (f"--alt{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n" if text else "")
        + f"--alt{n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt{n}--\r\n"
    )
    return (
        f'From: "{name}" <hana{n}@ito.example>\r\nTo: support@shoes.example\r\nSubject: {subject}\r\n'
        f"Message-ID: <browser-{n}@ito.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/related; boundary="rel{n}"\r\n\r\n'
        f"--rel{n}\r\n{alternative}"
        f"--rel{n}\r\nContent-Type: image/png\r\nContent-ID: <logo{n}@ito.example>\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{PNG}\r\n--rel{n}--\r\n"
    ).encode()


def test_an_html_email_is_shown_formatted_and_nothing_in_it_runs(live_hub, page: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = (
        f"{live_hub.env['HUB_VAR_DIR']}/media"  # files stored here are served by the live hub
    )
    Inbox.objects.create(
        name="Support email", kind=Inbox.EMAIL, address="support@shoes.example", team=live_hub.inbox.team
    )
    friendly = (
        "<table><tr><td><b>Order 10443</b></td><td><i>2 pairs</i></td></tr></table>"
        '<p>Track it <a href="https://shoes.example/track/10443">here</a>.</p>'
        '<p><img src="cid:logo0@ito.example" alt="logo"></p>'
    )
    email_store(raw=html_email(0, friendly), source="test")
    hostile_html = "".join(f"<p>{p}</p>" for p in PAYLOADS)
    email_store(
        raw=html_email(
            1, hostile_html, subject=PAYLOADS[0], name=PAYLOADS[8].replace('"', "'"), text=PAYLOADS[12]
        ),
        source="test",
    )
    email_store(raw=html_email(2, "<p>only html</p>", text="\r\n".join(PAYLOADS[:4])), source="test")
    assert Entry.objects.filter(channel="email").count() == 3

    watch = Watch(page)
    live_hub.login(page)
    for conversation in Conversation.objects.filter(entries__channel="email").distinct():
        page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
        page.wait_for_selector("#connection[data-state=live]")
        watch.inert(f"email thread {conversation.pk}")
        for entry in conversation.entries.filter(channel="email"):
            article = page.locator(f"#entry-{entry.pk}")
            expect(article.locator(".email-subject")).to_contain_text(entry.subject or "(no subject)")
            toggle = article.locator(".html-toggle")
            if toggle.count():
                toggle.click()
                expect(article.locator(".email-html")).to_be_visible()
        watch.inert(f"email thread {conversation.pk}, formatted")
        assert page.evaluate(FIND_ACTIVE_CONTENT, ".email-html") == []

    first = Entry.objects.get(email__message_id="browser-0@ito.example")
    page.goto(f"{live_hub.url}/inbox/{first.conversation_id}/")
    article = page.locator(f"#entry-{first.pk}")
    article.locator(".html-toggle").click()
    formatted = article.locator(".email-html")
    expect(formatted.locator("table b")).to_have_text("Order 10443")
    link = formatted.locator("a")
    expect(link).to_have_attribute("href", "https://shoes.example/track/10443")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    image = formatted.locator("img")
    expect(image).to_have_attribute(
        "src", f"/attachments/{first.attachments.get(content_type='image/png').pk}/"
    )
    page.wait_for_function("() => document.querySelector('.email-html img').naturalWidth === 1")

    hostile = Entry.objects.get(email__message_id="browser-1@ito.example")
    page.goto(f"{live_hub.url}/inbox/{hostile.conversation_id}/")
    article = page.locator(f"#entry-{hostile.pk}")
    # The text part, the subject and the sender's name read as sent.
    expect(article.locator(".email-text")).to_have_text(PAYLOADS[12])
    expect(article.locator(".email-subject")).to_contain_text(PAYLOADS[0])
    expect(page.locator("#thread-header h1")).to_have_text(PAYLOADS[8].replace('"', "'"))
    article.locator(".html-toggle").click()
    watch.inert("hostile email, formatted")
