from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from contacts import addresses
from contacts.models import Identity
from conversations.models import (
    AgentProfile,
    Attachment,
    Conversation,
    Entry,
    Episode,
    Inbox,
    PeriodicJobRun,
    Team,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ["name", "auto_assign", "created_at"]
    list_editable = ["auto_assign"]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin[AgentProfile]):
    list_display = ["user", "role", "availability", "max_open", "phone"]
    list_editable = ["max_open"]
    list_filter = ["role", "teams"]
    filter_horizontal = ["teams"]


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin[Inbox]):
    list_display = ["name", "kind", "address", "messaging_service_sid", "team", "is_default"]
    list_filter = ["kind", "team"]
    # The identity secret is shown masked, revealed (audited) and rotated on /inbox/settings/ only.
    exclude = ["identity_secret", "identity_secret_previous", "identity_secret_rotated_at"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = [
        "id",
        "contact",
        "status",
        "snoozed_until",
        "assignee",
        "last_activity_at",
        "waiting_since",
    ]
    list_filter = ["status"]
    raw_id_fields = ["contact", "assignee", "last_inbound_inbox"]


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin[Entry]):
    list_display = ["id", "conversation", "kind", "channel", "direction", "delivery_status", "created_at"]
    list_filter = ["kind", "channel", "direction", "delivery_status"]
    raw_id_fields = ["conversation", "origin_conversation", "episode", "author", "inbox"]


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin[Episode]):
    list_display = ["id", "conversation", "opened_at", "first_response_at", "resolved_at"]
    raw_id_fields = ["conversation"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    list_display = ["id", "entry", "state", "content_type", "size"]
    raw_id_fields = ["entry"]


@admin.register(PeriodicJobRun)
class PeriodicJobRunAdmin(admin.ModelAdmin[PeriodicJobRun]):
    """Read-only: the rows are the jobs' own record (conversations.periodic_jobs). The list shows every job of
    the schedule with its status, the ones that never ran included."""

    change_list_template = "admin/conversations/periodicjobrun/change_list.html"
    list_display = ["name", "last_run_at", "last_success_at", "last_error_at", "last_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PeriodicJobRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicJobRun | None = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from conversations.periodic_jobs import LATE_AFTER_INTERVALS, periodic_jobs_health

        context = {
            **(extra_context or {}),
            "jobs": periodic_jobs_health(),
            "late_after": LATE_AFTER_INTERVALS,
        }
        return super().changelist_view(request, context)


# Host-site user ids are scoped to a web chat site, which is an inbox: their admin lives here.
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
