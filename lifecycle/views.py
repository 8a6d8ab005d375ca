"""Reports → Funnel and Leaks, the stages' settings, and the stage control of the thread header: thin views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config import csv_safe
from config.errors import HubError, ValidationError
from conversations.models import Inbox, Team
from conversations.selectors import agent_is_admin, agent_sees_everything, conversation_visible_to
from conversations.services import conversation_get_visible
from conversations.web import agent_required, manager_required
from lifecycle import charts
from lifecycle.models import ResponseTarget, Stage
from lifecycle.owners import contact_owner_set
from lifecycle.scores import (
    POINTS_MAX,
    POINTS_MIN,
    SIGNALS_HELP,
    half_life_days,
    lead_score_weights,
    lead_score_weights_set,
)
from lifecycle.selectors import (
    BREAKDOWNS,
    LEAK_SORTS,
    FunnelReport,
    funnel_report,
    leak_settings,
    leaks_current,
    leaks_listed,
    period_parse,
    stages_ordered,
)
from lifecycle.services import (
    inbox_target_set,
    leak_settings_update,
    stage_create,
    stage_delete,
    stage_move,
    stage_update,
)
from lifecycle.targets import (
    MAX_MINUTES,
    METRIC_NAME,
    MINUTES_FIELD,
    hours_never_open,
    response_target_delete,
    response_target_save,
    targets_report,
)

View = Callable[..., HttpResponseBase]


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@require_GET
@manager_required
def funnel_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "start": request.GET.get("start", ""),
        "end": request.GET.get("end", ""),
        "is_admin": agent_is_admin(request.user),
        "breakdown_names": BREAKDOWNS,
    }
    try:
        period = period_parse(start=context["start"], end=context["end"])
    except ValidationError as error:
        context["error"] = error.message
        return render(request, "lifecycle/funnel.html", context, status=400)
    report = funnel_report(period=period)
    context.update(
        {
            "report": report,
            "start": period.first_day.isoformat(),
            "end": period.last_day.isoformat(),
            "funnel_chart": charts.funnel_svg([(row.stage.name, row.reached) for row in report.main]),
            "trend_chart": charts.trend_svg(
                report.buckets,
                [(row.stage.name, report.trend.get(row.stage.pk, [])) for row in report.main + report.side],
            ),
            "legend": [(row.stage.name, charts.color(n)) for n, row in enumerate(report.main + report.side)],
        }
    )
    return render(request, "lifecycle/funnel.html", context)


@require_GET
@manager_required
def funnel_csv(request: HttpRequest) -> HttpResponse:
    try:
        period = period_parse(start=request.GET.get("start", ""), end=request.GET.get("end", ""))
    except ValidationError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    report = funnel_report(period=period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"funnel-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    _write_csv(csv_safe.writer(response), report)
    return response


def _write_csv(out: csv_safe.SafeWriter, report: FunnelReport) -> None:
    out.writerow(["section", "stage", "contacts now", "entered in period", "reached in period",
                  "conversion to next", "median seconds in stage"])  # fmt: skip
    for row in report.main + report.side:
        out.writerow(
            [
                "stage",
                row.stage.name,
                row.now,
                row.entered,
                row.reached if row.stage.on_main_line else "",
                "" if row.conversion is None else f"{row.conversion:.4f}",
                "" if row.median_seconds is None else round(row.median_seconds),
            ]
        )
    out.writerow(["stage", "(no stage)", report.no_stage_now, "", "", "", ""])
    names = [row.stage.name for row in report.main]
    for dimension, rows in report.breakdowns.items():
        out.writerow([])
        out.writerow([f"by {dimension}", "value", *names])
        for breakdown in rows:
            out.writerow([f"by {dimension}", breakdown.label, *breakdown.reached])
    out.writerow([])
    out.writerow(["cohort", "month of first contact", "contacts", *names])
    for cohort in report.cohorts:
        out.writerow(["cohort", cohort.month.strftime("%Y-%m"), cohort.size, *cohort.reached])
    out.writerow([])
    out.writerow([f"trend by {report.bucket_size}", "stage", *(day.isoformat() for day in report.buckets)])
    for row in report.main + report.side:
        out.writerow([f"trend by {report.bucket_size}", row.stage.name, *report.trend.get(row.stage.pk, [])])


@require_GET
@agent_required
def leaks_page(request: HttpRequest) -> HttpResponse:
    """The contacts falling through right now; an agent sees those of their threads, managers all."""
    manager = agent_sees_everything(request.user)
    sort = request.GET.get("sort", "newest")
    sort = sort if sort in LEAK_SORTS else "newest"
    kind, team, assignee = (request.GET.get(name, "") for name in ("reason", "team", "agent"))
    listed = leaks_listed(
        leaks_current(visible=None if manager else conversation_visible_to(request.user)),
        sort=sort,
        kind=kind,
        team=team,
        assignee=assignee,
    )
    return render(
        request,
        "lifecycle/leaks.html",
        {
            "leaks": listed.items,
            "listed": listed,
            "sorts": [(key, label) for key, (label, _) in LEAK_SORTS.items()],
            "current": {"sort": sort, "reason": kind, "team": team, "agent": assignee},
            "manager": manager,
            "thresholds": leak_settings(),
            "inboxes": Inbox.objects.order_by("name") if manager else [],
            "is_admin": agent_is_admin(request.user),
            "error": request.GET.get("error", ""),
            "saved": request.GET.get("saved") == "1",
        },
    )


@require_POST
@manager_required
def leak_settings_save(request: HttpRequest) -> HttpResponse:
    try:
        leak_settings_update(
            callback_minutes=_int(request.POST.get("callback_minutes")),
            stale_lead_days=_int(request.POST.get("stale_lead_days")),
            customer_followup_days=_int(request.POST.get("customer_followup_days")),
            digest_hour_utc=_int(request.POST.get("digest_hour_utc"), minimum=0),
        )
        for inbox in Inbox.objects.all():
            value = request.POST.get(f"inbox_{inbox.pk}")
            if value is not None and value != str(inbox.target_response_minutes):
                inbox_target_set(inbox=inbox, minutes=_int(value))
    except ValidationError as error:
        return _back("/reports/leaks/", error.message)
    return redirect("/reports/leaks/?saved=1#thresholds")


def _int(value: str | None, *, minimum: int = 1) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("Thresholds are whole numbers.") from None
    if number < minimum:
        raise ValidationError(f"Thresholds are at least {minimum}.")
    return number


def _back(path: str, error: str) -> HttpResponse:
    from urllib.parse import urlencode

    return redirect(f"{path}?{urlencode({'error': error})}")


@require_http_methods(["GET", "POST"])
@manager_required
def stages_page(request: HttpRequest) -> HttpResponse:
    """The admin edits the lifecycle: names, order, main line; adds and deletes stages."""
    admin = agent_is_admin(request.user)
    if request.method == "POST":
        if not admin:
            raise PermissionDenied("Only admins change the lifecycle stages.")
        try:
            _stages_change(request)
        except ValidationError as error:
            return _back("/reports/funnel/stages/", error.message)
        return redirect("/reports/funnel/stages/")
    return render(
        request,
        "lifecycle/stages.html",
        {
            "stages": stages_ordered(),
            "teams": Team.objects.order_by("name"),
            "admin": admin,
            "is_admin": admin,
            "error": request.GET.get("error", ""),
        },
    )


def _stages_change(request: HttpRequest) -> None:
    action = request.POST.get("action", "")
    main = request.POST.get("on_main_line") == "1"
    if action == "create":
        stage_create(
            key=request.POST.get("key", ""),
            name=request.POST.get("name", ""),
            position=_int(request.POST.get("position"), minimum=0),
            on_main_line=main,
        )
        return
    stage = Stage.objects.filter(pk=_int(request.POST.get("stage"))).first()
    if stage is None:
        raise ValidationError("That stage no longer exists; reload the page.")
    if action == "update":
        team_id = request.POST.get("owner_team", "")
        owner_team = Team.objects.filter(pk=int(team_id)).first() if team_id.isdigit() else None
        if team_id.isdigit() and owner_team is None:
            raise ValidationError("That team no longer exists; reload the page.")
        stage_update(
            stage=stage,
            name=request.POST.get("name", ""),
            position=_int(request.POST.get("position"), minimum=0),
            on_main_line=main,
            owner_team=owner_team,
        )
    elif action == "delete":
        target = request.POST.get("move_to", "")
        move_to = Stage.objects.filter(pk=int(target)).first() if target.isdigit() else None
        stage_delete(stage=stage, by=_user(request), move_to=move_to)
    else:
        raise ValidationError("Unknown action.")


@require_POST
@agent_required
def stage_set(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The thread header's control: move the customer to another stage by hand."""
    conversation = conversation_get_visible(user=_user(request), conversation_id=conversation_id)
    stage = Stage.objects.filter(key=request.POST.get("stage", "")).first()
    if stage is None:
        return JsonResponse({"error": "No such stage; reload the page.", "code": "invalid"}, status=400)
    try:
        stage_move(
            contact=conversation.contact,
            stage=stage,
            by=_user(request),
            reason=request.POST.get("reason", ""),
        )
    except HubError as error:
        return JsonResponse({"error": error.message, "code": error.code}, status=error.status_code)
    return JsonResponse({"ok": True, "stage": stage.key})


@require_POST
@agent_required
def owner_set(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The customer panel: a manager gives the customer to an agent (or to nobody); an agent takes them."""
    user = _user(request)
    conversation = conversation_get_visible(user=user, conversation_id=conversation_id)
    value = request.POST.get("owner", "")
    if value == "me":
        owner: User | None = user
    elif not agent_sees_everything(user):
        return JsonResponse(
            {"error": "Only managers give customers to others.", "code": "forbidden"}, status=403
        )
    else:
        owner = User.objects.filter(pk=int(value), is_active=True).first() if value.isdigit() else None
        if value and owner is None:
            return JsonResponse({"error": "No such agent; reload the page.", "code": "invalid"}, status=400)
    try:
        contact_owner_set(
            contact=conversation.contact,
            owner=owner,
            by=user,
            reason="taken" if value == "me" else "set by hand",
        )
    except HubError as error:
        return JsonResponse({"error": error.message, "code": error.code}, status=error.status_code)
    return JsonResponse({"ok": True, "redirect": f"/inbox/{conversation.pk}/"})


@require_http_methods(["GET", "POST"])
@manager_required
def lead_score_page(request: HttpRequest) -> HttpResponse:
    """Settings → Lead score: the admin weighs each signal; every score follows at once. A weight out of range
    or a signal that does not exist is refused with the reason, and the form keeps what was typed."""
    admin = agent_is_admin(request.user)
    error = ""
    rows = [{"signal": signal, "points": str(points)} for signal, points in lead_score_weights().items()]
    if request.method == "POST":
        if not admin:
            raise PermissionDenied("Only admins change the lead score's weights.")
        posted = [
            {"signal": signal.strip(), "points": points.strip()}
            for signal, points in zip(
                request.POST.getlist("signal"), request.POST.getlist("points"), strict=False
            )
            if signal.strip() or points.strip()
        ]
        removed = set(request.POST.getlist("remove"))
        try:
            lead_score_weights_set(
                weights={row["signal"]: row["points"] for row in posted if row["signal"] not in removed},
                replace=True,
            )
        except ValidationError as failure:
            error, rows = failure.message, posted
        else:
            return redirect("/inbox/settings/lead-score/?saved=1")
    return render(
        request,
        "lifecycle/lead_score.html",
        {
            "rows": rows,
            "admin": admin,
            "is_admin": admin,
            "error": error,
            "saved": request.GET.get("saved") == "1",
            "signals_help": SIGNALS_HELP,
            "points_min": POINTS_MIN,
            "points_max": POINTS_MAX,
            "half_life": half_life_days(),
            "stages": stages_ordered(),
            "inboxes": Inbox.objects.order_by("name"),
        },
        status=400 if error else 200,
    )


# --- response targets -------------------------------------------------------------------------------------------
def _pk(value: str | None) -> int:
    text = (value or "").strip()
    return int(text) if text.isdigit() else 0


def _minutes_field(value: str | None) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{text[:20]!r} is not a number of minutes.") from None


@require_http_methods(["GET", "POST"])
@manager_required
def targets_page(request: HttpRequest) -> HttpResponse:
    """Settings → Response targets: admins set them per inbox, team or stage; managers read them. A bad value
    is refused with the reason and the form keeps what was typed."""
    admin = agent_is_admin(request.user)
    error, form = "", dict(request.POST.items()) if request.method == "POST" else {}
    editing = ResponseTarget.objects.filter(pk=_pk(request.GET.get("edit"))).first()
    if request.method == "POST":
        if not admin:
            raise PermissionDenied("Only admins change the response targets.")
        try:
            row = ResponseTarget.objects.filter(pk=_pk(request.POST.get("target"))).first()
            if request.POST.get("target") and row is None:
                raise ValidationError("That target no longer exists; reload the page.")
            if request.POST.get("action") == "delete" and row is not None:
                response_target_delete(target=row)
                return redirect("/inbox/settings/targets/?saved=1")
            response_target_save(
                target=row,
                name=request.POST.get("name", ""),
                scope=request.POST.get("scope", ""),
                minutes={metric: _minutes_field(request.POST.get(metric)) for metric in MINUTES_FIELD},
                warn_percent=_minutes_field(request.POST.get("warn_percent")) or 75,
            )
        except ValidationError as failure:
            error = failure.message
        else:
            return redirect("/inbox/settings/targets/?saved=1")
    elif editing is not None:
        form = {
            "target": str(editing.pk),
            "name": editing.name,
            "scope": f"inbox:{editing.inbox_id}"
            if editing.inbox_id
            else (f"team:{editing.team_id}" if editing.team_id else f"stage:{editing.stage_id}"),
            "warn_percent": str(editing.warn_percent),
            **{metric: str(getattr(editing, field) or "") for metric, field in MINUTES_FIELD.items()},
        }
    inboxes = list(Inbox.objects.order_by("name"))
    return render(
        request,
        "lifecycle/targets.html",
        {
            "targets": ResponseTarget.objects.select_related("inbox", "team", "stage"),
            "admin": admin,
            "is_admin": admin,
            "error": error,
            "saved": request.GET.get("saved") == "1",
            "form": form,
            "metrics": [(metric, METRIC_NAME[metric]) for metric in MINUTES_FIELD],
            "scopes": [
                ("Inbox", [(f"inbox:{inbox.pk}", inbox.name) for inbox in inboxes]),
                ("Team", [(f"team:{team.pk}", team.name) for team in Team.objects.order_by("name")]),
                ("Stage", [(f"stage:{stage.pk}", stage.name) for stage in stages_ordered()]),
            ],
            "never_open": [inbox for inbox in inboxes if hours_never_open(inbox)],
            "max_minutes": MAX_MINUTES,
        },
        status=400 if error else 200,
    )


@require_GET
@manager_required
def targets_report_page(request: HttpRequest) -> HttpResponse:
    """Reports → Response targets: per target, team and agent, how many were met and missed, and by how much."""
    context: dict[str, Any] = {
        "start": request.GET.get("start", ""),
        "end": request.GET.get("end", ""),
        "metric": request.GET.get("metric", ""),
        "metrics": [(metric, METRIC_NAME[metric]) for metric in MINUTES_FIELD],
        "is_admin": agent_is_admin(request.user),
    }
    try:
        period = period_parse(start=context["start"], end=context["end"])
    except ValidationError as error:
        context["error"] = error.message
        return render(request, "lifecycle/targets_report.html", context, status=400)
    context.update(
        {
            "report": targets_report(start=period.start, end=period.end, metric=context["metric"]),
            "start": period.first_day.isoformat(),
            "end": period.last_day.isoformat(),
        }
    )
    return render(request, "lifecycle/targets_report.html", context)
