from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts import addresses
from contacts.models import AttributeDefinition, Contact, Identity, Label


class IdentityInline(admin.TabularInline[Identity, Contact]):
    model = Identity
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ["id", "name", "created_at", "merged_into"]
    search_fields = ["name", "identities__address"]
    inlines = [IdentityInline]
    raw_id_fields = ["merged_into"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin[Label]):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin[AttributeDefinition]):
    list_display = ["label", "key", "type", "position"]
    list_editable = ["position"]


class WaitingForSite(admin.SimpleListFilter):
    """Host-site user ids that no site's secret scopes yet (left so by the migration that scoped them)."""

    title = "host-site user ids"
    parameter_name = "site"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting for a site (verify nothing)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Identity]) -> QuerySet[Identity]:
        if self.value() == "waiting":
            return queryset.filter(kind=addresses.EXTERNAL, scope="")
        return queryset


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin[Identity]):
    """Where an admin scopes a host-site user id to the web chat site whose secret signs it: one action per
    site, so the choice is made on purpose, never guessed."""

    list_display = ["id", "contact", "kind", "scope", "address", "verified", "last_seen_at"]
    list_filter = [WaitingForSite, "kind", "verified"]
    search_fields = ["address", "contact__name"]
    raw_id_fields = ["contact"]
    readonly_fields = ["scope"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        from conversations.models import Inbox

        actions: dict[str, Any] = dict(super().get_actions(request))
        for site in Inbox.objects.filter(kind=Inbox.WEBCHAT, identity_site__isnull=True).order_by("name"):
            name = f"scope_to_site_{site.pk}"
            actions[name] = (self._scope_to(site.pk), name, f"Scope host-site user ids to {site.name}")
        return actions

    @staticmethod
    def _scope_to(site_id: int) -> Callable[[Any, HttpRequest, QuerySet[Identity]], None]:
        def action(model_admin: Any, request: HttpRequest, queryset: QuerySet[Identity]) -> None:
            from contacts.services import identities_scope_to_site

            scoped, refused = identities_scope_to_site(identities=queryset, site_id=site_id)
            model_admin.message_user(request, f"{scoped} user id(s) scoped.", messages.SUCCESS)
            if refused:
                model_admin.message_user(
                    request,
                    f"{len(refused)} not scoped: that site already has the same user id for another "
                    f"customer ({', '.join(refused[:10])}). Merge the two customers first if they are one.",
                    messages.WARNING,
                )

        return action
