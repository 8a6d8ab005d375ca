"""What the lifecycle does, inside the transaction, when something happens to a customer (see events.services).

A customer who writes or calls has made their first contact, and a message makes a lead; two customers merged
are one lifecycle, counted once, and a merge undone gives each their own back.
"""

from __future__ import annotations

from events.services import Published, subscribe
from lifecycle.services import stage_merge, stage_on_customer_spoke, stage_unmerge


def subscribers_register() -> None:
    subscribe("message.received", customer_spoke)
    subscribe("call.received", customer_spoke)
    subscribe("contact.merged", contact_merged)
    subscribe("contact.unmerged", contact_unmerged)


def customer_spoke(event: Published) -> None:
    if "entry" not in event.rows:
        return  # published with no change behind it (a replay): nothing to keep consistent
    stage_on_customer_spoke(conversation=event.rows["conversation"], entry=event.rows["entry"])


def contact_merged(event: Published) -> None:
    rows = event.rows
    if "undo" not in rows:
        return
    rows["undo"]["lifecycle"] = stage_merge(
        source=rows["source"], into=rows["into"], by=rows["by"], at=event.at
    )


def contact_unmerged(event: Published) -> None:
    memo = event.rows.get("undo")
    if memo is None:
        return  # no merge on record: nothing of the lifecycle's to give back
    stage_unmerge(source=event.rows["source"], into=event.rows["into"], undo=memo.get("lifecycle") or {})
