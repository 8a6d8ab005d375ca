"""The settings pages that replace /admin/ for everyday changes: business hours, the web chat identity secret,
labels and custom attributes. Thin views: parse the form, call one service, render."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import HubError, NotFound, ValidationError
from contacts.models import AttributeDefinition, Label
from contacts.services import (
    attribute_definition_delete,
    attribute_definition_save,
    label_delete,
    label_save,
)
from conversations.hours import (
    DAY_NAMES,
    WEEKDAYS,
    business_hours_by_day,
    business_hours_from_editor,
    inbox_hours_set,
)
from conversations.models import Inbox
from conversations.selectors import agent_is_admin, agent_sees_everything

EMPTY_RANGE = ("", "")


def _admin_only(request: HttpRequest) -> None:
    if not agent_is_admin(request.user):
        raise PermissionDenied("Only admins configure inboxes.")


def _inbox(inbox_id: int) -> Inbox:
    inbox = Inbox.objects.filter(pk=inbox_id).first()
    if inbox is None:
        raise Http404("No such inbox.")
    return inbox


@login_required
@require_GET
def hours_index(request: HttpRequest) -> HttpResponse:
    _admin_only(request)
    wanted = request.GET.get("inbox", "")
    inboxes = Inbox.objects.order_by("is_default", "name")
    first = (inboxes.filter(pk=int(wanted)).first() if wanted.isdigit() else None) or inboxes.first()
    if first is None:
        return redirect("/inbox/settings/")
    return redirect(f"/inbox/settings/{first.pk}/hours/")


@login_required
@require_http_methods(["GET", "POST"])
def hours_page(request: HttpRequest, inbox_id: int) -> HttpResponse:
    """An inbox's week: each day open or closed with its ranges, the time zone, the dates closed."""
    _admin_only(request)
    inbox = _inbox(inbox_id)
    errors: list[str] = []
    saved = request.GET.get("saved") == "1"
    if request.method == "POST":
        form = request.POST
        always_open = form.get("mode") == "always"
        days = {
            day: (
                form.get(f"{day}_open") == "on",
                list(zip(form.getlist(f"{day}_start"), form.getlist(f"{day}_end"), strict=False)),
            )
            for day in WEEKDAYS
        }
        time_zone = form.get("time_zone", "").strip()
        holidays = form.getlist("holiday")
        schedule, closed, errors = business_hours_from_editor(
            always_open=always_open, days=days, holidays=holidays
        )
        if time_zone not in _zones():
            errors.append(f"{time_zone[:60]!r} is not a time zone; pick one from the list.")
        if not errors:
            inbox_hours_set(inbox=inbox, schedule=schedule, holidays=closed, time_zone=time_zone)
            return redirect(f"/inbox/settings/{inbox.pk}/hours/?saved=1")
        # Shown again as typed, so nothing is lost while the admin fixes it.
        shown_days = {
            day: (is_open, [*[pair for pair in pairs if "".join(pair).strip()], EMPTY_RANGE])
            for day, (is_open, pairs) in days.items()
        }
        shown_holidays = [value for value in holidays if value.strip()]
    else:
        always_open = not inbox.business_hours
        time_zone = inbox.time_zone
        stored = business_hours_by_day(inbox)
        shown_days = {
            day: (bool(stored[day]) or always_open, [*stored[day], EMPTY_RANGE]) for day in WEEKDAYS
        }
        if always_open:  # a starting point for an admin who switches to weekly hours
            shown_days = {
                day: (day not in ("sat", "sun"), [("09:00", "17:00"), EMPTY_RANGE]) for day in WEEKDAYS
            }
        shown_holidays = [str(day) for day in inbox.holidays or []]
    return render(
        request,
        "settings/hours.html",
        {
            "section": "hours",
            "inbox": inbox,
            "inboxes": Inbox.objects.order_by("is_default", "name"),
            "always_open": always_open,
            "time_zone": time_zone,
            "zones": sorted(_zones()),
            "days": [
                {
                    "key": day,
                    "name": DAY_NAMES[day],
                    "open": is_open,
                    "ranges": [(start, "00:00" if end == "24:00" else end) for start, end in pairs],
                }
                for day, (is_open, pairs) in shown_days.items()
            ],
            "holidays": shown_holidays,
            "errors": errors,
            "saved": saved,
        },
        status=400 if errors else 200,
    )


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones() | {"UTC"})
    return _ZONES


# --- the web chat identity secret: masked, revealed on request (audited), rotated --------------------------
@login_required
@require_POST
def secret_reveal(request: HttpRequest, inbox_id: int) -> HttpResponse:
    from inbox.views import inbox_settings_render
    from reports.models import AuditLog
    from reports.services import audit_record

    _admin_only(request)
    inbox = _inbox(inbox_id)
    if inbox.kind != Inbox.WEBCHAT or not inbox.identity_secret:
        raise Http404("This inbox has no identity secret.")
    user = request.user
    assert isinstance(user, User)
    audit_record(
        actor=user,
        action=AuditLog.SECRET_REVEAL,
        description=f"{user.get_full_name() or user.get_username()} revealed the identity secret of {inbox.name}",
        data={"model": "conversations.Inbox", "object_id": inbox.pk, "field": "identity_secret"},
    )
    return inbox_settings_render(
        request, secret_shown={"inbox": inbox.pk, "secret": inbox.identity_secret, "rotated": False}
    )


@login_required
@require_POST
def secret_rotate(request: HttpRequest, inbox_id: int) -> HttpResponse:
    from channels_adapters.webchat.settings import identity_secret_rotate
    from inbox.views import inbox_settings_render

    _admin_only(request)
    try:
        inbox = identity_secret_rotate(inbox=_inbox(inbox_id))
    except HubError as error:
        return inbox_settings_render(request, errors={inbox_id: error.message})
    return inbox_settings_render(
        request, secret_shown={"inbox": inbox.pk, "secret": inbox.identity_secret, "rotated": True}
    )


# --- labels and custom attributes ------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def labels_page(request: HttpRequest) -> HttpResponse:
    """Labels (create, rename, recolor, delete) and custom attribute definitions: admins and managers."""
    if not agent_sees_everything(request.user):
        raise PermissionDenied("Only admins and managers manage labels and attributes.")
    error, failed_form = "", ""
    if request.method == "POST":
        form = request.POST
        action = form.get("action", "")
        try:
            messages.success(request, _labels_act(action, form))
            return redirect("/inbox/settings/labels/")
        except HubError as failure:
            error, failed_form = failure.message, action
    labels = Label.objects.annotate(customers=Count("contacts")).order_by("name")
    return render(
        request,
        "settings/labels.html",
        {
            "section": "labels",
            "labels": labels,
            "definitions": AttributeDefinition.objects.all(),
            "types": AttributeDefinition.TYPE_CHOICES,
            "error": error,
            # A new label or attribute that was refused comes back as typed (an edit keeps its row's form).
            "retry": failed_form if error and not request.POST.get("id") else "",
            "typed": request.POST if error else {},
        },
        status=400 if error else 200,
    )


def _labels_act(action: str, form: Any) -> str:
    """One change from the labels page; what it did, in words, for the next page."""
    wanted = str(form.get("id", ""))
    if action in ("label_save", "label_delete"):
        label = Label.objects.filter(pk=int(wanted)).first() if wanted.isdigit() else None
        if wanted and label is None:
            raise NotFound("That label no longer exists.")
        if action == "label_delete" and label is not None:
            had = label_delete(label=label)
            return f"Deleted the label {label.name} ({had} customer{'s' if had != 1 else ''} had it)."
        saved = label_save(label=label, name=str(form.get("name", "")), color=str(form.get("color", "")))
        return f"Saved the label {saved.name}."
    if action in ("attribute_save", "attribute_delete"):
        definition = AttributeDefinition.objects.filter(pk=int(wanted)).first() if wanted.isdigit() else None
        if wanted and definition is None:
            raise NotFound("That attribute no longer exists.")
        if action == "attribute_delete" and definition is not None:
            attribute_definition_delete(definition=definition)
            return f"Deleted the attribute {definition.label}."
        saved_definition = attribute_definition_save(
            definition=definition,
            label=str(form.get("label", "")),
            key=str(form.get("key", "")),
            kind=str(form.get("type", AttributeDefinition.TEXT)),
            choices=str(form.get("choices", "")),
        )
        return f"Saved the attribute {saved_definition.label}."
    raise ValidationError("Unknown action.")


@login_required
@require_POST
def origin_allow(request: HttpRequest, inbox_id: int) -> HttpResponse:
    """ "Allow" beside an origin the widget was refused on."""
    from channels_adapters.webchat.services import refused_origin_allow
    from inbox.views import inbox_settings_render

    _admin_only(request)
    inbox = _inbox(inbox_id)
    if inbox.kind != Inbox.WEBCHAT:
        raise Http404("Only a web chat inbox has allowed origins.")
    try:
        refused_origin_allow(inbox=inbox, origin=str(request.POST.get("origin", "")))
    except HubError as error:
        return inbox_settings_render(request, errors={inbox.pk: error.message})
    return inbox_settings_render(request, saved=inbox.pk)
