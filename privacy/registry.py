"""Every model that refers to a customer, their thread or an entry, with what an erasure and an export do to it.

tests/privacy/test_registry.py walks every model and fails for one that refers to a contact, a thread or an
entry without a line here: the next feature that stores something about a customer must say how it is
erased and exported (and do it in privacy/services.py and privacy/selectors.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Handling:
    erase: str
    export: str


NOT_EXPORTED = "not exported: nothing the customer gave"

PLAN: dict[str, Handling] = {
    "contacts.Contact": Handling(
        "name and attributes emptied; the row stays as a stub for the reports", "contact.json"
    ),
    "contacts.Identity": Handling("deleted (addresses)", "identities.json"),
    "conversations.Conversation": Handling(
        "kept (status, times); the list's preview emptied", "entries.json"
    ),
    "conversations.ConversationInbox": Handling("kept: which inboxes the thread used", NOT_EXPORTED),
    "conversations.Episode": Handling("kept: timings the reports count", "episodes.json"),
    "conversations.Entry": Handling(
        "body, subject, status reason, the customer's address and content data emptied; kind, channel, "
        "direction and times kept",
        "entries.json",
    ),
    "conversations.Attachment": Handling("file and row deleted", "files/ and entries.json"),
    "conversations.RealtimeEvent": Handling("deleted", NOT_EXPORTED),
    "conversations.Notification": Handling("deleted", NOT_EXPORTED),
    "channels_adapters.InboundEvent": Handling(
        "payload and raw file emptied; the idempotency key stays as a tombstone", "entries.json (as entries)"
    ),
    "channels_adapters.EmailMessage": Handling("headers and HTML emptied", "entries.json (email)"),
    "lifecycle.ContactStage": Handling("kept: stage and first-contact facts", "stages.json"),
    "lifecycle.ContactOwner": Handling("kept; the reason emptied", NOT_EXPORTED),
    "lifecycle.StageChange": Handling("kept; the reason emptied", "stages.json"),
    "lifecycle.Touchpoint": Handling("payload emptied", "touchpoints.json"),
    "lifecycle.Leak": Handling("kept: kinds and times", NOT_EXPORTED),
    "lifecycle.LeadSignal": Handling("deleted (a profile of what they did)", "lead_score.json"),
    "lifecycle.LeadScore": Handling("deleted", "lead_score.json"),
    "lifecycle.TargetTimer": Handling(
        "kept: which target, when due, met or missed (the report's facts)", NOT_EXPORTED
    ),
    "reports.ScheduledFollowUp": Handling("body and reason emptied", NOT_EXPORTED),
    "sequences.Enrollment": Handling(
        "kept for the counts; an active one ends (`erased`) so nothing more is sent; its detail emptied",
        NOT_EXPORTED,
    ),
    "reports.SatisfactionSurvey": Handling("kept; the reason emptied", NOT_EXPORTED),
    "reports.SatisfactionResponse": Handling("kept: the rating", "ratings.json"),
    "reports.AuditLog": Handling("kept: names agents and ids, never the customer", NOT_EXPORTED),
    "reports.ExportJob": Handling("deleted with its file", NOT_EXPORTED),
    "privacy.ContactErasure": Handling("is the record of the erasure (no personal data)", NOT_EXPORTED),
    "privacy.ContactExport": Handling("deleted with its file", NOT_EXPORTED),
    # No reference to the customer at all: a keyed hash of a number that texted STOP, kept on purpose.
    "contacts.Suppression": Handling(
        "kept: an HMAC of the number, so an erased customer who said STOP is not texted again", NOT_EXPORTED
    ),
    # Plain ids rather than foreign keys (the walk cannot see them), listed all the same:
    "events.DomainEvent": Handling("payload emptied; ids and order kept", NOT_EXPORTED),
    "events.WebhookAttempt": Handling("deleted for the customer's events (receivers' answers)", NOT_EXPORTED),
}
