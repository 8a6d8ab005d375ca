"""The outbound sandbox: with no provider credentials, what would have been sent is recorded here.

One JSON line per message in SANDBOX_DIR/outbound.jsonl, so a newcomer can read it with `tail -f`, and the
agent UI lists it at /inbox/sandbox/.
"""

from __future__ import annotations

import fcntl
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from channels_adapters.base import SendResult

logger = logging.getLogger("hub.sandbox")


def _path() -> Path:
    return Path(settings.SANDBOX_DIR) / "outbound.jsonl"


def sandbox_record(*, channel: str, prefix: str, record: dict[str, Any]) -> str:
    """Append one record and return the id the sandbox gave it (shaped like the provider's ids)."""
    sandbox_id = prefix + secrets.token_hex(16)
    line = {"id": sandbox_id, "channel": channel, "recorded_at": timezone.now().isoformat(), **record}
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    logger.info(
        "SANDBOX %s to %s from %s: %s",
        channel,
        record.get("to"),
        record.get("from"),
        str(record.get("body", ""))[:200],
    )
    return sandbox_id


def sandbox_records(limit: int = 200) -> list[dict[str, Any]]:
    """The newest records first."""
    records = list(_read_all())
    return list(reversed(records[-limit:]))


def sandbox_sent(*, reference: str) -> list[SendResult]:
    """What the sandbox recorded for an entry, as a provider's answer to "was it sent?" (found or not)."""
    for record in _read_all():
        if record.get("reference") == reference:
            return [SendResult(provider_id=record["id"], status="sent", sandbox=True)]
    return []


def _read_all() -> Iterator[dict[str, Any]]:
    path = _path()
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:
                continue
