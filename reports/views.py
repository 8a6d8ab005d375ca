"""Managers' reports (performance, history, audit, exports) and the agents' follow-ups: thin views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.errors import HubError, NotFound, ValidationError
from conversations.selectors import agent_is_admin, conversation_visible_to
from conversations.services import conversation_get_visible
from conversations.web import agent_required, entry_json, json_error, manager_required
from reports.charts import bar_chart_svg, heatmap_table
from reports.models import ExportJob, ScheduledFollowUp
from reports.selectors import (
    DIMENSIONS,
    PerformanceReport,
    audit_trail,
    history_conversations,
    performance_filter_choices,
    performance_report,
    period_parse,
    thread_entry_count,
)
from reports.services import (
    export_audit,
    export_job_create,
    followup_cancel,
    followup_schedule,
    followup_suggestion_send,
)

View = Callable[..., HttpResponseBase]
HISTORY_FILTERS = ("agent", "channel", "start", "end", "stage")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


# --- pages for managers -----------------------------------------------------------------------------
@require_GET
@manager_required
def index(request: HttpRequest) -> HttpResponse:

    return render(request, "reports/index.html")


@require_GET
@manager_required
def performance(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "") for name in DIMENSIONS}
    context: dict[str, Any] = {
        "filters": filters,
        "choices": performance_filter_choices(),
        "start": request.GET.get("start", ""),
        "end": request.GET.get("end", ""),
        "hours": request.GET.get("hours", "business"),
    }
    try:
        period = period_parse(start=context["start"], end=context["end"])
        for name in ("inbox", "team", "agent"):
            if filters[name] and not filters[name].isdigit():
                raise ValidationError(f"Pick the {name} from the list.")
    except HubError as error:
        context["error"] = error.message
        return render(request, "reports/performance.html", context, status=400)
    report = performance_report(
        period=period, business_hours=context["hours"] != "clock", filters=dict(filters)
    )
    context.update(
        report=report,
        start=period.first_day.isoformat(),
        end=period.last_day.isoformat(),
        charts=_charts(report),
    )
    return render(request, "reports/performance.html", context)


def _charts(report: PerformanceReport) -> dict[str, Any]:
    from reports.templatetags.reports_tags import duration

    days = [day for day, _ in report.daily]
    volumes = [float(f.episodes) for _, f in report.daily]
    responses = [f.first_response for _, f in report.daily]
    return {
        "volume": bar_chart_svg(
            element_id="volume-chart",
            label="Episodes per day",
            css_class="volume",
            days=days,
            values=volumes,
            describe=lambda v: f"{int(v or 0)} episode{'' if v == 1 else 's'}",
        ),
        "response": bar_chart_svg(
            element_id="response-chart",
            label="Average first response per day",
            css_class="response",
            days=days,
            values=responses,
            describe=duration,
        ),
        "volume_max": int(max(volumes, default=0)),
        "response_max": max((r or 0 for r in responses), default=0),
        "heatmap": heatmap_table(report.heatmap),
    }


@require_GET
@manager_required
def history(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "") for name in HISTORY_FILTERS}

    context: dict[str, Any] = {
        "filters": filters,
        "choices": performance_filter_choices(),
    }
    try:
        context["conversations"] = list(history_conversations(user=request.user, filters=filters))
    except HubError as error:
        context["error"] = error.message
        return render(request, "reports/history.html", context, status=400)
    return render(request, "reports/history.html", context)


@require_GET
@manager_required
def history_thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=_user(request), conversation_id=conversation_id)
    return render(
        request,
        "reports/history_thread.html",
        {
            "c": conversation,
            "episodes": conversation.episodes.select_related("assignee", "metrics", "satisfaction").order_by(
                "-opened_at"
            )[:50],
            "trail": audit_trail(user=request.user, conversation=conversation, limit=200),
            "entry_count": thread_entry_count(conversation),
        },
    )


@require_GET
@manager_required
def thread_print(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """A short thread prints at once; a long one is offered as a background export."""
    from django.conf import settings

    from reports.selectors import export_document

    conversation = conversation_get_visible(user=_user(request), conversation_id=conversation_id)
    count = thread_entry_count(conversation)
    if count > settings.EXPORT_INLINE_MAX_ENTRIES:
        return render(request, "reports/export_offer.html", {"c": conversation, "entry_count": count})
    html = export_document(conversation_ids=[conversation.pk], by=_user(request))
    export_audit(by=_user(request), conversation_ids=[conversation.pk])
    return HttpResponse(html)


@require_GET
@manager_required
def audit(request: HttpRequest) -> HttpResponse:
    actor = request.GET.get("agent", "")
    before_text = request.GET.get("before", "")
    try:
        before = datetime.fromisoformat(before_text) if before_text else None
    except ValueError:
        before = None
    settings_only = request.GET.get("what") == "settings" and agent_is_admin(request.user)
    items = audit_trail(
        user=request.user,
        actor_id=int(actor) if actor.isdigit() else None,
        before=before,
        limit=100,
        settings_only=settings_only,
    )
    return render(
        request,
        "reports/audit.html",
        {
            "items": items,
            "agent": actor,
            "what": "settings" if settings_only else "",
            "is_admin": agent_is_admin(request.user),
            "choices": performance_filter_choices(),
            "older": items[-1].at.isoformat() if len(items) == 100 else "",
        },
    )


# --- exports ----------------------------------------------------------------------------------------
@require_POST
@manager_required
def export_create(request: HttpRequest) -> HttpResponse:
    conversation = None
    value = request.POST.get("conversation", "")
    if value.isdigit():
        conversation = conversation_get_visible(user=_user(request), conversation_id=int(value))
    filters = {name: request.POST.get(name, "") for name in HISTORY_FILTERS if request.POST.get(name)}
    try:
        job = export_job_create(by=_user(request), conversation=conversation, filters=filters)
    except HubError as error:
        return HttpResponse(error.message, status=error.status_code, content_type="text/plain")
    return redirect(f"/reports/exports/{job.pk}/")


def _job(request: HttpRequest, job_id: int) -> ExportJob:
    """The requester's own export (an admin may open anyone's); another's is a 404."""
    jobs = ExportJob.objects.filter(pk=job_id)
    if not (request.user.is_superuser or _is_admin(request)):
        jobs = jobs.filter(created_by=_user(request))
    job = jobs.first()
    if job is None:
        raise Http404("No such export.")
    return job


def _is_admin(request: HttpRequest) -> bool:
    from conversations.selectors import agent_is_admin

    return agent_is_admin(request.user)


@require_GET
@manager_required
def export_page(request: HttpRequest, job_id: int) -> HttpResponse:
    return render(request, "reports/export_job.html", {"job": _job(request, job_id)})


@require_GET
@manager_required
def export_status(request: HttpRequest, job_id: int) -> JsonResponse:
    job = _job(request, job_id)
    return JsonResponse(
        {
            "state": job.state,
            "percent": job.percent,
            "done": job.done,
            "total": job.total,
            "error": job.error,
            "download": f"/reports/exports/{job.pk}/download/" if job.state == ExportJob.DONE else "",
        }
    )


@require_GET
@manager_required
def export_download(request: HttpRequest, job_id: int) -> HttpResponseBase:
    job = _job(request, job_id)
    if job.state != ExportJob.DONE or not job.file:
        raise Http404("This export is not ready.")
    response = FileResponse(
        job.file.open("rb"), as_attachment=request.GET.get("inline") != "1", filename=f"export-{job.pk}.html"
    )
    response["Content-Type"] = "text/html; charset=utf-8"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- follow-ups, from the thread (agents) -----------------------------------------------------------
@require_POST
@agent_required
def followup_create(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("conversation", "")
    if not value.isdigit():
        return json_error(ValidationError("Which conversation?"))
    conversation = conversation_get_visible(user=_user(request), conversation_id=int(value))
    try:
        followup = followup_schedule(
            conversation=conversation,
            by=_user(request),
            kind=request.POST.get("kind", ScheduledFollowUp.MESSAGE),
            due_at=_due_at(request.POST.get("due_at", "")),
            body=request.POST.get("body", ""),
            channel=request.POST.get("channel", ""),
        )
    except HubError as error:
        return json_error(error)
    assert followup.entry_id is not None
    return JsonResponse(
        {"entry": entry_json(followup.entry_id), "followup": followup.pk, "redirect": _thread_url(followup)},
        status=201,
    )


def _thread_url(followup: ScheduledFollowUp) -> str:
    """Where the agent.js async form goes next: the thread again, its follow-up panel drawn afresh."""
    return f"/inbox/{followup.conversation_id}/"


def _due_at(value: str) -> datetime:
    """A datetime-local field, in the hub's time zone (or an ISO time with its offset, from the API)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("Pick the date and time the follow-up is due.") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _followup(request: HttpRequest, followup_id: int) -> ScheduledFollowUp:
    """A follow-up of a thread the agent may see; another team's answers as one that does not exist."""
    visible = conversation_visible_to(request.user)
    followup = ScheduledFollowUp.objects.filter(pk=followup_id, conversation__in=visible).first()
    if followup is None:
        raise NotFound("No such follow-up.")
    return followup


@require_POST
@agent_required
def followup_cancel_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    followup = _followup(request, followup_id)
    if not followup_cancel(followup=followup, by=_user(request), reason=f"{_name(request)} cancelled it"):
        return json_error(ValidationError("This follow-up was sent or cancelled already."))
    return JsonResponse({"ok": True, "redirect": _thread_url(followup)})


@require_POST
@agent_required
def followup_send_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    followup = _followup(request, followup_id)
    try:
        entry = followup_suggestion_send(
            followup=followup, by=_user(request), body=request.POST.get("body", "")
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(entry.pk), "redirect": _thread_url(followup)}, status=201)


def _name(request: HttpRequest) -> str:
    user = _user(request)
    return str(user.get_full_name() or user.get_username())
