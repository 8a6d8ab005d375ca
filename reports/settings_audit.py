"""Every settings change in the audit trail, with before and after: inboxes, secrets, teams, roles, agents,
labels and attribute definitions, lead score weights, rules and macros, sequences, webhook subscriptions.

It listens to the models' own signals, so a change made on a product page, through the API or in /admin/
is recorded alike, in the transaction that makes it. Who made it comes from the request being served
(config.actor). Secrets are never written down: only whether one was set, and that it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from config.actor import current_actor

MASK = "•••••••• (set)"
UNSET = "(not set)"


@dataclass(frozen=True)
class Audited:
    what: str  # how the trail names the kind of thing: "Inbox", "Team"
    fields: tuple[str, ...]
    secrets: tuple[str, ...] = ()


AUDITED: dict[str, Audited] = {
    "conversations.Inbox": Audited(
        "Inbox",
        (
            "name",
            "kind",
            "address",
            "team",
            "twilio_account",
            "messaging_service_sid",
            "whatsapp_enabled",
            "time_zone",
            "business_hours",
            "holidays",
            "target_response_minutes",
            "voice_greeting",
            "voicemail_prompt",
            "ring_timeout_s",
            "voicemail_max_s",
            "widget_key",
            "allowed_origins",
            "widget_greeting",
            "widget_color",
            "identity_secret",
            "identity_site",
            "is_default",
        ),
        secrets=("identity_secret",),
    ),
    "conversations.Team": Audited("Team", ("name", "auto_assign")),
    "conversations.AgentProfile": Audited("Agent", ("role", "phone", "max_open")),
    "auth.User": Audited(
        "User",
        ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser", "password"),
        secrets=("password",),
    ),
    "channels_adapters.TwilioAccount": Audited(
        "Twilio account", ("name", "account_sid", "auth_token", "is_sandbox"), secrets=("auth_token",)
    ),
    "channels_adapters.EmailMailbox": Audited(
        "Email mailbox",
        ("host", "port", "security", "username", "password", "folder", "delete_after_import", "enabled"),
        secrets=("password",),
    ),
    "contacts.Label": Audited("Label", ("name", "color")),
    "contacts.AttributeDefinition": Audited("Attribute", ("key", "label", "type", "choices", "position")),
    "lifecycle.LeadScoreWeight": Audited("Lead score weight", ("signal", "points")),
    "lifecycle.ResponseTarget": Audited(
        "Response target",
        (
            "name",
            "inbox",
            "team",
            "stage",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "owner_touch_minutes",
            "warn_percent",
        ),
    ),
    "rules.Rule": Audited(
        "Rule", ("name", "event_type", "conditions", "actions", "position", "enabled", "stop_after")
    ),
    "rules.Macro": Audited("Macro", ("name", "actions")),
    "sequences.Sequence": Audited(
        "Sequence", ("name", "description", "steps", "enabled", "exit_on_stage_change", "inbox")
    ),
    "events.WebhookEndpoint": Audited(
        "Webhook", ("url", "description", "event_types", "secret", "active"), secrets=("secret",)
    ),
}


def _spec(sender: Any) -> Audited | None:
    return AUDITED.get(sender._meta.label) if isinstance(sender, type) and issubclass(sender, Model) else None


def _columns(model: type[Model], spec: Audited) -> dict[str, str]:
    """field name -> the column attribute holding it (team -> team_id)."""
    return {name: str(getattr(model._meta.get_field(name), "attname", name)) for name in spec.fields}


def _values(instance: Model, spec: Audited) -> dict[str, Any]:
    return {name: getattr(instance, column) for name, column in _columns(type(instance), spec).items()}


def _shown(model: type[Model], spec: Audited, name: str, value: Any) -> Any:
    """A value as the trail shows it: secrets masked, related rows by name, everything JSON-safe."""
    if name in spec.secrets:
        return MASK if value else UNSET
    field = model._meta.get_field(name)
    if field.is_relation and value is not None:
        related = field.related_model
        row = related._default_manager.filter(pk=value).first() if isinstance(related, type) else None
        return f"{row} (#{value})" if row is not None else f"#{value}"
    if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        return value
    return str(value)


def _record(*, spec: Audited, instance: Model, verb: str, changes: dict[str, dict[str, Any]]) -> None:
    from reports.models import AuditLog
    from reports.services import audit_record

    names = ", ".join(name.replace("_", " ") for name in changes)
    label = str(instance)
    description = f"{spec.what} “{label}” {verb}" + (f": {names}" if verb == "changed" else "")
    audit_record(
        actor=current_actor(),
        action=AuditLog.SETTINGS,
        description=description,
        data={
            "model": type(instance)._meta.label,
            "object_id": instance.pk,
            "object": label,
            "verb": verb,
            "changes": changes,
        },
    )


def _before_save(
    sender: Any, instance: Model, raw: bool = False, update_fields: Any = None, **_: Any
) -> None:
    spec = _spec(sender)
    if spec is None or raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(spec.fields):
        return  # a login's last_login, an agent's availability: not settings
    columns = _columns(sender, spec)
    row = sender._default_manager.filter(pk=instance.pk).values(*columns.values()).first()
    if row is not None:
        instance._settings_before = {name: row[column] for name, column in columns.items()}  # type: ignore[attr-defined]


def _after_save(sender: Any, instance: Model, created: bool = False, raw: bool = False, **_: Any) -> None:
    spec = _spec(sender)
    if spec is None or raw:
        return
    before: dict[str, Any] | None = instance.__dict__.pop("_settings_before", None)
    if not created and before is None:
        return
    after = _values(instance, spec)
    changes = {
        name: {
            "before": _shown(sender, spec, name, before[name]) if before is not None else None,
            "after": _shown(sender, spec, name, value),
        }
        for name, value in after.items()
        if (created and value not in (None, "", [], {})) or (before is not None and before[name] != value)
    }
    if created:
        _record(spec=spec, instance=instance, verb="created", changes=changes)
    elif changes:
        _record(spec=spec, instance=instance, verb="changed", changes=changes)


def _after_delete(sender: Any, instance: Model, **_: Any) -> None:
    spec = _spec(sender)
    if spec is None:
        return
    changes = {
        name: {"before": _shown(sender, spec, name, value), "after": None}
        for name, value in _values(instance, spec).items()
        if value not in (None, "", [], {})
    }
    _record(spec=spec, instance=instance, verb="deleted", changes=changes)


def _team_names(profile_ids: list[int]) -> dict[int, list[str]]:
    profile_model = apps.get_model("conversations", "AgentProfile")
    names: dict[int, list[str]] = {pk: [] for pk in profile_ids}
    for pk, team in profile_model.teams.through.objects.filter(agentprofile_id__in=profile_ids).values_list(
        "agentprofile_id", "team__name"
    ):
        names[pk].append(team)
    return {pk: sorted(teams) for pk, teams in names.items()}


def _teams_changed(
    sender: Any, instance: Model, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    """An agent's teams (from the agent's side or the team's): who sees which inboxes."""
    if action not in ("pre_add", "pre_remove", "pre_clear", "post_add", "post_remove", "post_clear"):
        return
    profile_model = apps.get_model("conversations", "AgentProfile")
    if not reverse:
        profile_ids = [int(instance.pk)]
    elif pk_set is not None:
        profile_ids = sorted(pk_set)
    else:
        profile_ids = list(
            profile_model.teams.through.objects.filter(team_id=instance.pk).values_list(
                "agentprofile_id", flat=True
            )
        )
    if action.startswith("pre_"):
        instance._teams_before = _team_names(profile_ids)  # type: ignore[attr-defined]
        return
    before: dict[int, list[str]] = instance.__dict__.pop("_teams_before", {})
    after = _team_names(list(before) or profile_ids)
    spec = AUDITED["conversations.AgentProfile"]
    for profile in profile_model.objects.filter(pk__in=list(after)).select_related("user"):
        if before.get(profile.pk, []) != after[profile.pk]:
            _record(
                spec=spec,
                instance=profile,
                verb="changed",
                changes={"teams": {"before": before.get(profile.pk, []), "after": after[profile.pk]}},
            )


def settings_audit_connect() -> None:
    """Called once from ReportsConfig.ready."""
    for label in AUDITED:
        model = apps.get_model(label)
        uid = f"reports.settings_audit.{label}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}.pre")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}.post")
        post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}.delete")
    through = apps.get_model("conversations", "AgentProfile").teams.through
    m2m_changed.connect(_teams_changed, sender=through, dispatch_uid="reports.settings_audit.teams")
