"""The stages a new hub starts with (the data migration and `stages_seed` share them)."""

from __future__ import annotations

# key, name, on the main line
DEFAULT_STAGES: list[tuple[str, str, bool]] = [
    ("subscriber", "Subscriber", True),
    ("lead", "Lead", True),
    ("qualified", "Qualified", True),
    ("opportunity", "Opportunity", True),
    ("customer", "Customer", True),
    ("loyal", "Loyal", True),
    ("lost", "Lost", False),
    ("churned", "Churned", False),
]

# The keys the rules move contacts to; an admin may rename these stages but not re-key them.
SUBSCRIBER, LEAD, OPPORTUNITY, CUSTOMER, LOYAL = "subscriber", "lead", "opportunity", "customer", "loyal"
