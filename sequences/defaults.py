"""The ready-made sequences a manager adds with one click (and then edits like any other)."""

from __future__ import annotations

READY_MADE: list[dict[str, str]] = [
    {
        "name": "New lead nurture",
        "description": "A new lead hears from us over a week until they answer, then an agent calls.",
        "steps": "message: Hi {{contact.first_name}}, thanks for getting in touch! What are you looking for?\n"
        "wait 2 business days\n"
        "message: Just checking in: is there anything we can help you choose?\n"
        "wait 3 business days\n"
        "task: Call them: two messages and no answer yet",
    },
    {
        "name": "After the purchase",
        "description": "A thank-you within hours, a check-in after a week, a review request after a month.",
        "steps": "message: Hi {{contact.first_name}}, thank you for your order! Reply here if anything is not right.\n"
        "wait 7 days\n"
        "message: How is it going with your order? Anything we can help with?\n"
        "wait 23 days\n"
        "message: Would you tell others what you thought? A short review helps us a lot.",
    },
    {
        "name": "Win back",
        "description": "A customer quiet for a long time hears from us once, and their owner follows up.",
        "steps": "message: Hi {{contact.first_name}}, it has been a while! Anything we can do for you?\n"
        "wait 7 days\n"
        "task: Call them if they have not answered",
    },
]
