"""WhatsApp message templates: synced from Twilio's Content API, offered when the 24-hour window is closed, sent
with `ContentSid` and `ContentVariables`, and shown in the thread as the customer saw them.

Meta refuses a template whose variables are missing, empty, or hold a newline, a tab or more than four spaces
in a row, so those are refused here first, with the reason. The sandbox has demo templates, approved.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException

from channels_adapters.accounts import SANDBOX, twilio_account_for_inbox
from channels_adapters.base import ProviderAccount
from channels_adapters.models import MessageTemplate
from channels_adapters.outbound import (
    message_send,
    outbound_entry_queue,
    recipient_for,
    reply_default_channel,
    reply_default_inbox,
    whatsapp_window_open,
)
from channels_adapters.sms.twilio_client import twilio_client
from config.errors import ChannelRuleError, NotFound, ValidationError
from contacts.models import Suppression
from contacts.selectors import address_suppressed
from conversations.models import Conversation, Entry, Inbox
from conversations.selectors import inboxes_sendable_by

logger = logging.getLogger("hub.templates")

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_FORBIDDEN = re.compile(r"[\n\t]| {5,}")

# What the sandbox offers, so the demo shows the whole path with no Twilio account.
DEMO_TEMPLATES: list[dict[str, Any]] = [
    {
        "sid": "HX" + "0" * 31 + "1",
        "friendly_name": "follow_up",
        "language": "en",
        "body": "Hi {{1}}, this is {{2}} following up on your message. Is there anything else we can help with?",
        "variables": {"1": "Dana", "2": "Support"},
        "category": "UTILITY",
    },
    {
        "sid": "HX" + "0" * 31 + "2",
        "friendly_name": "order_update",
        "language": "en",
        "body": "Hi {{1}}, your order {{2}} has an update. Reply here and we will answer right away.",
        "variables": {"1": "Dana", "2": "#1042"},
        "category": "UTILITY",
    },
    {
        "sid": "HX" + "0" * 31 + "3",
        "friendly_name": "satisfaction",
        "language": "en",
        "body": "Hi {{1}}, how did we do? Reply with a number from 1 (poor) to 5 (great).",
        "variables": {"1": "Dana"},
        "category": "UTILITY",
    },
]


# --- sync ---------------------------------------------------------------------------------------------------
def _accounts_in_use() -> list[ProviderAccount]:
    accounts: dict[str, ProviderAccount] = {}
    for inbox in Inbox.objects.filter(kind=Inbox.PHONE).select_related("twilio_account"):
        account = twilio_account_for_inbox(inbox)
        accounts.setdefault(account.account_id, account)
    return list(accounts.values())


def templates_sync_all() -> dict[str, int | str]:
    """Every account an inbox sends through: how many templates each has now, or why it could not be asked."""
    results: dict[str, int | str] = {}
    for account in _accounts_in_use():
        try:
            results[account.account_id] = templates_sync(account)
        except ValidationError as error:
            logger.warning("Templates of %s not synced: %s", account.account_id, error.message)
            results[account.account_id] = error.message
    return results


def templates_sync(account: ProviderAccount) -> int:
    """The account's templates as Twilio holds them now (approval status included); gone ones are removed."""
    if account.sandbox:
        fetched = [
            {
                "sid": demo["sid"],
                "friendly_name": demo["friendly_name"],
                "language": demo["language"],
                "variables": demo["variables"],
                "types": {"twilio/text": {"body": demo["body"]}},
                "approval_requests": {"status": "approved", "category": demo["category"]},
            }
            for demo in DEMO_TEMPLATES
        ]
    else:
        try:
            client = twilio_client(account)
            fetched = [
                {
                    "sid": item.sid,
                    "friendly_name": item.friendly_name,
                    "language": item.language,
                    "variables": item.variables,
                    "types": item.types,
                    "approval_requests": item.approval_requests,
                }
                for item in client.content.v1.content_and_approvals.stream(page_size=100)
            ]
        except (TwilioRestException, requests.exceptions.RequestException) as error:
            raise ValidationError(f"Twilio's Content API could not be read: {error}") from error
    now = timezone.now()
    with transaction.atomic():
        seen = []
        for item in fetched:
            approval = _approval(item.get("approval_requests"))
            MessageTemplate.objects.update_or_create(
                account_sid=account.account_id,
                content_sid=str(item["sid"]),
                defaults={
                    "name": str(item.get("friendly_name") or item["sid"])[:200],
                    "language": str(item.get("language") or "")[:16],
                    "body": _body(item.get("types")),
                    "variables": item.get("variables") if isinstance(item.get("variables"), dict) else {},
                    "whatsapp_status": str(approval.get("status") or "")[:32],
                    "whatsapp_category": str(approval.get("category") or "")[:32],
                    "rejection_reason": str(approval.get("rejection_reason") or ""),
                    "synced_at": now,
                },
            )
            seen.append(str(item["sid"]))
        MessageTemplate.objects.filter(account_sid=account.account_id).exclude(content_sid__in=seen).delete()
    return len(seen)


def _approval(value: Any) -> dict[str, Any]:
    """ContentAndApprovals gives the WhatsApp approval itself, or under "whatsapp" (as the approval fetch does)."""
    if not isinstance(value, dict):
        return {}
    inner = value.get("whatsapp")
    return inner if isinstance(inner, dict) else value


def _body(types: Any) -> str:
    """The text the customer reads: twilio/text's body, else the first content type that has one."""
    if not isinstance(types, dict):
        return ""
    ordered = [types.get("twilio/text"), *types.values()]
    return next((str(t["body"]) for t in ordered if isinstance(t, dict) and t.get("body")), "")


# --- choose and send ----------------------------------------------------------------------------------------
def templates_for(inbox: Inbox | None) -> QuerySet[MessageTemplate]:
    """The approved templates the inbox's account can send, by name."""
    account = twilio_account_for_inbox(inbox) if inbox is not None else SANDBOX
    return MessageTemplate.objects.filter(
        account_sid=account.account_id, whatsapp_status=MessageTemplate.APPROVED
    ).order_by("name", "language")


def template_placeholders(template: MessageTemplate) -> list[str]:
    """The template's placeholders in the order they appear, each once."""
    names: list[str] = []
    for name in PLACEHOLDER.findall(template.body):
        if name not in names:
            names.append(name)
    return names


def template_render(template: MessageTemplate, variables: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: variables.get(match.group(1), match.group(0)), template.body)


def template_variables_check(template: MessageTemplate, variables: dict[str, str]) -> dict[str, str]:
    """The values for every placeholder, or the reason Meta would refuse them."""
    checked: dict[str, str] = {}
    for name in template_placeholders(template):
        value = str(variables.get(name, ""))
        if not value.strip():
            raise ValidationError(f"The template “{template.name}” needs a value for {{{{{name}}}}}.")
        if _FORBIDDEN.search(value):
            raise ValidationError(
                f"The value for {{{{{name}}}}} holds a line break, a tab or more than four spaces in a row, "
                "which WhatsApp refuses in a template."
            )
        checked[name] = value
    return checked


def template_suggested_values(
    template: MessageTemplate, conversation: Conversation, agent: User | None
) -> dict[str, str]:
    """What the picker fills in: {{1}} the customer's first name, {{2}} the agent's, else Twilio's samples."""
    first_name = (conversation.contact.name or "").split(" ")[0]
    agent_name = (agent.first_name or agent.get_username()) if agent is not None else ""
    guesses = {"1": first_name, "2": agent_name}
    samples = template.variables if isinstance(template.variables, dict) else {}
    return {name: guesses.get(name) or str(samples.get(name, "")) for name in template_placeholders(template)}


def template_send(
    *,
    conversation: Conversation,
    template: MessageTemplate,
    variables: dict[str, str],
    author: User | None,
    inbox: Inbox | None = None,
) -> Entry:
    """Send an approved template on WhatsApp, inside the 24-hour window or out of it; the thread shows the text
    as the customer reads it."""
    inbox = inbox or reply_default_inbox(conversation)
    if inbox is None or inbox.kind != Inbox.PHONE or not (inbox.address or inbox.messaging_service_sid):
        raise ValidationError("Pick the business number to send the template from.")
    if author is not None and not inboxes_sendable_by(author).filter(pk=inbox.pk).exists():
        raise ValidationError("You cannot send from that inbox.")
    if template.account_sid != twilio_account_for_inbox(inbox).account_id:
        raise ValidationError(
            f"The template “{template.name}” belongs to another Twilio account than {inbox.name}."
        )
    if template.whatsapp_status != MessageTemplate.APPROVED:
        raise ChannelRuleError(
            f"WhatsApp has not approved the template “{template.name}” ({template.whatsapp_status or 'not submitted'})."
        )
    checked = template_variables_check(template, variables)
    identity = recipient_for(conversation)
    if identity is None:
        raise ChannelRuleError("This customer has no phone number that can receive messages.")
    stopped = address_suppressed(channel=Suppression.SMS, address=identity.address)
    if stopped is not None:
        raise ChannelRuleError(
            f"{identity.address} texted STOP on {stopped:%Y-%m-%d %H:%M} UTC and cannot be sent "
            "messages until they text START."
        )
    return outbound_entry_queue(
        conversation=conversation,
        channel=Entry.WHATSAPP,
        inbox=inbox,
        author=author,
        provider="twilio",
        to_address=identity.address,
        body=template_render(template, checked),
        data={"template": {"sid": template.content_sid, "name": template.name, "variables": checked}},
    )


def template_send_by_id(
    *,
    conversation: Conversation,
    template_id: int,
    variables: dict[str, str],
    author: User | None,
    inbox: Inbox | None = None,
) -> Entry:
    """`template_send` for a template named by id (a form's or the API's): one the inbox cannot send is not found."""
    inbox = inbox or reply_default_inbox(conversation)
    template = templates_for(inbox).filter(pk=template_id).first()
    if template is None:
        raise NotFound("No such approved template for this inbox's WhatsApp number.")
    return template_send(
        conversation=conversation, template=template, variables=variables, author=author, inbox=inbox
    )


def hub_message_send(
    *,
    conversation: Conversation,
    body: str,
    author: User | None,
    purpose: str,
    channel: str | None = None,
    inbox: Inbox | None = None,
    keep_cc: bool = True,
) -> Entry:
    """A message sent later or by the hub (a follow-up, the satisfaction question, a rule's reply): on WhatsApp
    with the 24-hour window closed, the approved template WHATSAPP_TEMPLATES names for `purpose` goes in its
    place ({{1}} the customer's first name, {{2}} the sender's name) rather than failing."""
    try:
        return message_send(
            conversation=conversation, body=body, author=author, channel=channel, inbox=inbox, keep_cc=keep_cc
        )
    except ChannelRuleError as error:
        if (channel or reply_default_channel(conversation)) != Entry.WHATSAPP or whatsapp_window_open(
            conversation
        ):
            raise
        refused = error
    inbox = inbox or reply_default_inbox(conversation)
    name = settings.WHATSAPP_TEMPLATES.get(purpose, "")
    template = templates_for(inbox).filter(name=name).first() if name else None
    if template is None:
        raise ChannelRuleError(f"{refused.message} No approved template named “{name}” to send instead.")
    first_name = (conversation.contact.name or "").split(" ")[0] or "there"
    sender = (author.first_name or author.get_username()) if author is not None else ""
    values = {"1": first_name, "2": sender or (inbox.name if inbox is not None else "us")}
    missing = [name for name in template_placeholders(template) if name not in values]
    if missing:
        raise ChannelRuleError(
            f"{refused.message} The template “{template.name}” asks for {{{{{missing[0]}}}}}, which the hub "
            "cannot fill by itself."
        )
    return template_send(
        conversation=conversation, template=template, variables=values, author=author, inbox=inbox
    )
