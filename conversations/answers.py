"""A question the hub put to a customer that their next message may answer: the satisfaction question.

The channel adapters ask `rating_answered` before recording a customer's message, because a rating lands in
the thread without reopening it (the entry then carries `data["rating"]`, and its message.received event
says so). The app that asks the question registers, at start, how to read an answer (reports does), so the
adapters need not know it.
"""

from __future__ import annotations

from collections.abc import Callable

from conversations.models import Conversation

RatingReader = Callable[[Conversation, str], "int | None"]

_readers: list[RatingReader] = []


def rating_reader_register(reader: RatingReader) -> None:
    if reader not in _readers:
        _readers.append(reader)


def rating_answered(*, conversation: Conversation, body: str) -> int | None:
    """The 1-to-5 rating `body` gives to a question pending on this thread, or None."""
    for reader in _readers:
        rating = reader(conversation, body)
        if rating is not None:
            return rating
    return None
