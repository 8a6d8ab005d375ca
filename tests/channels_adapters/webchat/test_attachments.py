"""A visitor attaches a file: only images and PDFs, only up to the size limit, only from an allowed site,
and only the visitor who uploaded it can send it; the agent downloads it from the hub's own URL."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations.models import Attachment
from tests.images import png
from tests.webchat import SHOP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PNG = png(12, 12)  # a real image: a bare signature is no longer taken for one


def upload(widget_key: str, token: Any, name: str, content: bytes, origin: str = SHOP) -> Any:
    return Client().post(
        "/webchat/uploads/",
        {"file": SimpleUploadedFile(name, content), "visitor": token, "widget_key": widget_key},
        HTTP_ORIGIN=origin,
    )


async def test_a_visitor_sends_a_picture_and_the_agent_downloads_it(
    visitor_for, inbox_webchat, agent_alice
) -> None:
    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]
    response = await sync_to_async(upload)(inbox_webchat.widget_key, token, "my shoe.png", PNG)
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == SHOP
    ref = response.json()["upload"]
    await visitor.send(type="message", id="abcdefgh1", body="This one is torn", files=[ref])
    assert (await visitor.until(lambda f: f.get("id") == "abcdefgh1"))["type"] == "ack"
    frame = await visitor.until(lambda f: f["type"] == "message")
    assert frame["message"]["files"] == ["my shoe.png"]
    attachment = await sync_to_async(Attachment.objects.get)()
    assert (attachment.content_type, attachment.state, attachment.size) == ("image/png", "stored", len(PNG))

    def download() -> Any:
        client = Client()
        client.force_login(agent_alice)
        return client.get(f"/attachments/{attachment.pk}/")

    got = await sync_to_async(download)()
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == PNG
    await visitor.close()


async def test_files_the_widget_does_not_take_are_refused_with_the_reason(
    visitor_for, inbox_webchat, settings
) -> None:
    settings.WEBCHAT_UPLOAD_MAX_BYTES = 1000
    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]
    key = inbox_webchat.widget_key
    script = await sync_to_async(upload)(key, token, "photo.png", b"<script>alert(1)</script>")
    assert script.status_code == 400 and "Only images" in script.json()["error"]
    big = await sync_to_async(upload)(key, token, "big.png", PNG + b"\x00" * 2000)
    assert big.status_code == 400 and "the limit is" in big.json()["error"]
    foreign = await sync_to_async(upload)(key, token, "a.png", PNG, "https://evil.example.test")
    assert foreign.status_code == 403
    forged = await sync_to_async(upload)(key, token.split(".")[0] + "." + "0" * 64, "a.png", PNG)
    assert forged.status_code == 400
    # A reference uploaded by another visitor cannot be sent by this one.
    other = visitor_for()
    assert await other.connect()
    other_token = (await other.hello())["visitor"]
    ref = (await sync_to_async(upload)(key, other_token, "theirs.png", PNG)).json()["upload"]
    await visitor.send(type="message", id="abcdefgh2", body="", files=[ref])
    refused = await visitor.until(lambda f: f.get("id") == "abcdefgh2")
    assert refused["type"] == "error" and "not uploaded by you" in refused["message"]
    assert await sync_to_async(Attachment.objects.count)() == 0
    await visitor.close()
    await other.close()


async def test_files_uploaded_and_never_sent_are_deleted_after_two_days_and_sent_ones_stay(
    visitor_for, inbox_webchat
) -> None:
    import os
    import time
    from datetime import timedelta

    from channels.db import database_sync_to_async
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from channels_adapters.models import InboundEvent
    from channels_adapters.webchat.services import webchat_uploads_prune

    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]
    refs = []
    for name in ("sent.png", "abandoned.png", "queued.png"):
        response = await sync_to_async(upload)(inbox_webchat.widget_key, token, name, PNG)
        assert response.status_code == 201, response.content
        refs.append(response.json()["upload"])
    await visitor.send(type="message", id="abcdefgh2", body="Here it is", files=[refs[0]])
    await visitor.until(lambda f: f["type"] == "message")
    await visitor.send(type="message", id="abcdefgh3", body="And this one", files=[refs[2]])
    await visitor.until(lambda f: f.get("id") == "abcdefgh3")
    await visitor.close()

    def prune() -> tuple[int, int, set[str]]:
        # The third message is stored but, as if the workers were behind, not recorded yet.
        queued = InboundEvent.objects.get(idempotency_key__endswith=":abcdefgh3")
        InboundEvent.objects.filter(pk=queued.pk).update(state=InboundEvent.PENDING)
        Attachment.objects.filter(entry__data__client_id="abcdefgh3").delete()
        folder = next(iter(default_storage.listdir("webchat")[0]))
        paths = [f"webchat/{folder}/{name}" for name in default_storage.listdir(f"webchat/{folder}")[1]]
        assert len(paths) == 3
        young = webchat_uploads_prune()
        aged = time.time() - timedelta(days=3).total_seconds()
        for path in paths:
            os.utime(default_storage.path(path), (aged, aged))
        old = webchat_uploads_prune(now=timezone.now())
        return young, old, {name for name in default_storage.listdir(f"webchat/{folder}")[1]}

    young, old, left = await database_sync_to_async(prune)()
    assert (young, old) == (0, 1)
    assert len(left) == 2
    sent = await database_sync_to_async(Attachment.objects.get)(filename="sent.png")
    assert sent.file.name.rsplit("/", 1)[1] in left
