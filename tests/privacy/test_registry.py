"""Every model that refers to a customer, their thread or an entry says how it is erased and exported."""

from __future__ import annotations

from django.apps import apps

from privacy.registry import PLAN

TARGETS = {"contacts.contact", "conversations.conversation", "conversations.entry"}


def test_every_model_that_refers_to_a_customer_is_in_the_privacy_plan() -> None:
    referring = {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.is_relation
        and not field.auto_created
        and field.related_model is not None
        and field.related_model._meta.label_lower in TARGETS
    }
    assert referring - set(PLAN) == set(), "say in privacy/registry.py how these are erased and exported"
    for label in PLAN:
        apps.get_model(label)  # a model renamed or removed must leave the plan too (LookupError)
