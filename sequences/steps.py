"""A sequence's steps: what each may say, checked when the sequence is saved (with the reason when refused), and
the one-step-a-line text the settings page edits them as:

    message: Hi {{contact.first_name}}, thanks for your order!
    message whatsapp: How is it going?
    wait 2 days
    wait 3 business days
    task: Call them about the renewal
"""

from __future__ import annotations

import re
from typing import Any

from config.errors import ValidationError

CHANNELS = ("sms", "whatsapp", "email", "webchat")
STEP_TYPES = ("message", "wait", "task")
TEXT_MAX = 1600  # an SMS's limit: a step's message goes out on whichever channel the customer is on
MAX_STEPS = 30
MAX_WAIT_DAYS = 365

_MESSAGE = re.compile(r"^message(?:\s+(\w+))?\s*:\s*(.*)$", re.IGNORECASE)
_WAIT = re.compile(r"^wait\s+(\d+)\s+(business\s+)?days?$", re.IGNORECASE)
_TASK = re.compile(r"^task\s*:\s*(.*)$", re.IGNORECASE)


def steps_validate(steps: Any) -> list[dict[str, Any]]:
    """The steps, normalized, or the first thing wrong with them (numbered as a person counts)."""
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ValidationError("A sequence needs at least one step: a list of {type, ...}.")
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"A sequence has at most {MAX_STEPS} steps.")
    clean: list[dict[str, Any]] = []
    for number, step in enumerate(steps, start=1):
        kind = step.get("type")
        if kind not in STEP_TYPES:
            raise ValidationError(f"Step {number}: no step {str(kind)[:30]!r}; use message, wait or task.")
        if kind == "wait":
            days = step.get("days")
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WAIT_DAYS:
                raise ValidationError(f"Step {number}: a wait lasts 1 to {MAX_WAIT_DAYS} days.")
            clean.append({"type": "wait", "days": days, "business_days": bool(step.get("business_days"))})
            continue
        text = step.get("text")
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > TEXT_MAX:
            raise ValidationError(f"Step {number}: the text is 1 to {TEXT_MAX} characters.")
        if kind == "task":
            clean.append({"type": "task", "text": text.strip()})
            continue
        channel = step.get("channel") or ""
        if channel and channel not in CHANNELS:
            raise ValidationError(
                f"Step {number}: a message goes out on {', '.join(CHANNELS)}, or on the customer's last channel "
                f"(no channel); not {str(channel)[:20]!r}."
            )
        clean.append({"type": "message", "channel": channel, "text": text.strip()})
    if all(step["type"] == "wait" for step in clean):
        raise ValidationError("A sequence of waits only would do nothing: add a message or a task.")
    return clean


def steps_parse(text: str) -> list[dict[str, Any]]:
    """The settings page's lines as steps (one a line; blank lines ignored), or the line that cannot be read."""
    steps: list[dict[str, Any]] = []
    for number, raw in enumerate(str(text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if match := _MESSAGE.match(line):
            steps.append(
                {"type": "message", "channel": (match.group(1) or "").lower(), "text": match.group(2).strip()}
            )
        elif match := _WAIT.match(line):
            steps.append({"type": "wait", "days": int(match.group(1)), "business_days": bool(match.group(2))})
        elif match := _TASK.match(line):
            steps.append({"type": "task", "text": match.group(1).strip()})
        else:
            raise ValidationError(
                f"Line {number} ({line[:40]!r}) is not a step: write “message: text”, “message sms: text”, "
                "“wait 2 days”, “wait 3 business days” or “task: text”."
            )
    return steps


def steps_text(steps: list[dict[str, Any]]) -> str:
    """The steps as the settings page shows them (`steps_parse` reads it back to the same steps)."""
    return "\n".join(step_line(step) for step in steps)


def step_line(step: dict[str, Any]) -> str:
    kind = step.get("type")
    if kind == "wait":
        days = int(step.get("days") or 0)
        return f"wait {days} {'business ' if step.get('business_days') else ''}day{'s' if days != 1 else ''}"
    if kind == "task":
        return f"task: {step.get('text', '')}"
    channel = step.get("channel") or ""
    return f"message{' ' + channel if channel else ''}: {step.get('text', '')}"


def step_describe(step: dict[str, Any]) -> str:
    """A step in words, for the thread and the pages."""
    kind = step.get("type")
    if kind == "wait":
        days = int(step.get("days") or 0)
        return f"wait {days} {'business ' if step.get('business_days') else ''}day{'s' if days != 1 else ''}"
    text = " ".join(str(step.get("text", "")).split())
    short = text if len(text) <= 60 else text[:60].rsplit(" ", 1)[0] + "…"
    if kind == "task":
        return f"a task for the owner: “{short}”"
    return f"a message{' on ' + str(step['channel']) if step.get('channel') else ''}: “{short}”"
