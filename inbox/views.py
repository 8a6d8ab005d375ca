"""The agents' inbox: server-rendered pages, partials shared with the live updates, thin views."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_adapters.outbound import entry_retry, message_send
from channels_adapters.sandbox import sandbox_records
from channels_adapters.start import START_CHANNELS, conversation_start
from config.errors import HubError, NotFound, ValidationError
from config.file_check import filename_for
from contacts.models import AttributeDefinition, ContactImport, Label
from conversations.assignment import agent_deactivate, agent_reactivate, conversation_assign_team
from conversations.bulk import conversations_bulk_apply
from conversations.canned import VARIABLES, canned_delete, canned_get, canned_list, canned_render, canned_save
from conversations.customers import contact_merge, contact_update
from conversations.imports import SOURCE_MAX_BYTES, contact_import_create
from conversations.models import AgentProfile, Conversation, Entry, Inbox, Team
from conversations.notifications import notification_text, notifications_mark_read
from conversations.saved_views import (
    FILTER_KEYS,
    saved_view_create,
    saved_view_delete,
    saved_view_filters_clean,
    saved_view_list,
    saved_view_query,
)
from conversations.search import customers_find, entry_search
from conversations.selectors import (
    CHANNELS,
    COUNT_CAP,
    PRIORITY_RANK,
    SORTS,
    STATUSES,
    VIEWS,
    EntryCursor,
    ListCursor,
    ListFilters,
    agent_is_admin,
    agent_profile,
    agent_sees_everything,
    agents_for_conversation,
    attachment_visible_to,
    contact_panel,
    contact_visible_to,
    conversation_list,
    conversation_view_counts,
    entry_cursor_format,
    entry_cursor_parse,
    entry_page,
    entry_page_after,
    entry_visible_to,
    entry_window,
    inbox_visible_to,
    notification_list,
    realtime_latest_seq,
)
from conversations.services import (
    agent_profile_update,
    conversation_assign,
    conversation_block,
    conversation_get_visible,
    conversation_set_priority,
    conversation_set_status,
    note_add,
)
from conversations.web import agent_required, entry_json, json_error, request_agent
from push.selectors import push_devices, push_previews
from rules.models import Macro
from rules.services import macro_apply
from sequences.models import Sequence

SCORE_STEPS = (20, 50)  # the list's lead-score filters: warm and hot (lifecycle.scores.score_band)


def _list_params(request: HttpRequest) -> dict[str, Any]:
    view = request.GET.get("view", "all")
    status = request.GET.get("status", "open")
    inbox, team, label = (request.GET.get(key, "")[:12] for key in ("inbox", "team", "label"))
    channel = request.GET.get("channel", "")
    priority, sort = request.GET.get("priority", ""), request.GET.get("sort", "")
    score = request.GET.get("score", "")[:4]
    return {
        "view": view if view in VIEWS else "all",
        "status": status if status in STATUSES else "open",
        "inbox_id": int(inbox) if inbox.isdigit() else None,
        "filters": ListFilters(
            team_id=int(team) if team.isdigit() else None,
            channel=channel if channel in CHANNELS else "",
            label_id=int(label) if label.isdigit() else None,
            priority=priority if priority in PRIORITY_RANK else "",
            min_score=int(score) if score.isdigit() else None,
        ),
        "sort": sort if sort in SORTS else "recent",
    }


def _list_query(params: dict[str, Any], **override: Any) -> str:
    """The list's query string for these params, some changed (None drops one)."""
    filters: ListFilters = params["filters"]
    values = {
        "view": params["view"],
        "status": params["status"],
        "inbox": params["inbox_id"],
        "team": filters.team_id,
        "channel": filters.channel or None,
        "label": filters.label_id,
        "priority": filters.priority or None,
        "score": filters.min_score,
        "sort": None if params["sort"] == "recent" else params["sort"],
    }
    values.update(override)
    return "?" + urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _list_links(request: HttpRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The sidebar's links: each view, status, inbox, team, channel and label keeps the other filters."""
    filters: ListFilters = params["filters"]
    profile = agent_profile(request.user)
    teams = (
        Team.objects.all()
        if agent_sees_everything(request.user)
        else (profile.teams.all() if profile is not None else Team.objects.none())
    )
    return {
        "status_links": [(s, _list_query(params, status=s)) for s in STATUSES],
        "inbox_links": [(None, "All inboxes", _list_query(params, inbox=None))]
        + [
            (i.pk, i.name, _list_query(params, inbox=i.pk))
            for i in inbox_visible_to(request.user).order_by("name")
        ],
        "team_links": [(None, "All teams", _list_query(params, team=None))]
        + [(t.pk, t.name, _list_query(params, team=t.pk)) for t in teams.order_by("name")],
        "channel_links": [("", "All channels", _list_query(params, channel=None))]
        + [(c, label, _list_query(params, channel=c)) for c, label in Entry.CHANNEL_CHOICES],
        "label_links": [(None, "All labels", _list_query(params, label=None))]
        + [
            (label.pk, label.name, _list_query(params, label=label.pk))
            for label in Label.objects.order_by("name")
        ],
        "priority_links": [("", "Any priority", _list_query(params, priority=None))]
        + [(p, label, _list_query(params, priority=p)) for p, label in Conversation.PRIORITY_CHOICES],
        "sort_links": [
            ("recent", "Latest first", _list_query(params, sort=None)),
            ("priority", "Urgent first", _list_query(params, sort="priority")),
            ("score", "Best leads first", _list_query(params, sort="score")),
        ],
        "score_links": [(None, "Any lead score", _list_query(params, score=None))]
        + [(n, f"★ {n} or more", _list_query(params, score=n)) for n in SCORE_STEPS],
        "current": {
            "team": filters.team_id,
            "channel": filters.channel,
            "label": filters.label_id,
            "priority": filters.priority,
            "score": filters.min_score,
            "sort": params["sort"],
        },
        "query": _list_query(params)[1:],
        "query_now": urlencode(saved_view_filters_clean(dict(parse_qsl(_list_query(params)[1:])))),
        "saved_views": [(v, saved_view_query(v)) for v in saved_view_list(agent=request_agent(request))],
    }


def _view_counts(request: HttpRequest, params: dict[str, Any]) -> list[tuple[str, int, bool, str]]:
    """Each view with its capped count and its link (the other filters kept)."""
    counts = conversation_view_counts(
        user=request.user, status=params["status"], inbox_id=params["inbox_id"], filters=params["filters"]
    )
    return [
        (view, min(count, COUNT_CAP), count > COUNT_CAP, _list_query(params, view=view))
        for view, count in counts.items()
    ]


@require_GET
@agent_required
def view_counts(request: HttpRequest) -> HttpResponse:
    """Each view's count under the list's filters, fetched again by the page when a list frame arrives."""
    params = _list_params(request)
    return JsonResponse(
        {
            "counts": {
                view: f"{count}{'+' if more else ''}"
                for view, count, more, _ in _view_counts(request, params)
            }
        }
    )


@require_POST
@agent_required
def saved_views(request: HttpRequest) -> HttpResponse:
    """Save the list's current filters under a name, or delete one of the agent's saved views."""
    wanted = request.POST.get("delete", "")
    try:
        if wanted:
            if not wanted.isdigit():
                raise NotFound("No such view.")
            saved_view_delete(agent=request_agent(request), view_id=int(wanted))
            return JsonResponse({"ok": True})
        view = saved_view_create(
            agent=request_agent(request),
            name=request.POST.get("name", ""),
            filters={key: request.POST.get(key, "") for key in FILTER_KEYS},
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "id": view.pk, "url": "/inbox/?" + saved_view_query(view)}, status=201)


@require_GET
@agent_required
def inbox_page(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    # Read the log position before rendering: anything after it reaches the page through the socket.
    seq = realtime_latest_seq()
    params = _list_params(request)
    conversations = conversation_list(user=request.user, **params)
    context: dict[str, Any] = {
        "seq": seq,
        "conversations": conversations,
        "params": params,
        "views": _view_counts(request, params),
        "list_cursor": _list_cursor(conversations),
        **_list_links(request, params),
        "bulk_agents": User.objects.filter(is_active=True, agent__isnull=False).order_by("username"),
        "is_admin": agent_is_admin(request.user),
        "sees_everything": agent_sees_everything(request.user),
        "palette": _palette(request, conversation_id),
    }
    if conversation_id is not None:
        conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
        if conversation.pk != conversation_id:
            # A merged-away customer's thread lives on in the survivor's.
            return redirect(f"/inbox/{conversation.pk}/")
        context.update(_thread_context(request, conversation))
        context["panel"] = contact_panel(contact=conversation.contact)
        context.update(_thread_entries(request, conversation))
    return render(request, "conversations/inbox.html", context)


def _thread_entries(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    """The newest page, or the entries around `?entry=` (a search hit) or `?at=` (a date), focused."""
    at: EntryCursor | None = None
    focus: int | None = None
    wanted = request.GET.get("entry", "")
    if wanted.isdigit():
        hit = Entry.objects.filter(conversation=conversation, pk=int(wanted)).only("pk", "created_at").first()
        if hit is None:
            raise NotFound("No such entry in this conversation.")
        at, focus = EntryCursor(hit.created_at, hit.pk), hit.pk
    elif request.GET.get("at"):
        day = parse_date(request.GET["at"][:10])
        if day is not None:
            at = EntryCursor(datetime.combine(day, time.min, tzinfo=UTC), 0)
    if at is None:
        entries = entry_page(conversation=conversation)
        return {"entries": entries, "older_cursor": _entry_cursor(entries), "newer_cursor": ""}
    window = entry_window(conversation=conversation, at=at)
    if focus is None and window.entries:
        focus = next((e.pk for e in window.entries if e.created_at >= at.created_at), window.entries[-1].pk)
    first, last = (window.entries[0], window.entries[-1]) if window.entries else (None, None)
    return {
        "entries": window.entries,
        "older_cursor": entry_cursor_format(first) if window.has_older and first else "",
        "newer_cursor": entry_cursor_format(last) if window.has_newer and last else "",
        "focus_entry": focus,
    }


@require_http_methods(["GET", "POST"])
@agent_required
def contact_panel_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The customer at a glance beside the thread; a POST edits the name, attributes or labels inline."""
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    contact = conversation.contact
    if request.method == "POST":
        current = list(contact.labels.values_list("pk", flat=True))
        added, removed = request.POST.get("label_add", ""), request.POST.get("label_remove", "")
        try:
            if added or removed:
                labels: list[int | str] = [pk for pk in current if str(pk) != removed]
                contact_update(
                    contact=contact, by=request_agent(request), labels=labels + ([added] if added else [])
                )
            else:
                attributes = {
                    key: request.POST[f"attr_{key}"]
                    for key in AttributeDefinition.objects.values_list("key", flat=True)
                    if f"attr_{key}" in request.POST
                }
                contact_update(
                    contact=contact,
                    by=request_agent(request),
                    name=request.POST.get("name"),
                    attributes=attributes,
                )
        except HubError as error:
            return json_error(error)
        contact.refresh_from_db()
    html = render_to_string(
        "conversations/_contact_panel.html",
        {"c": conversation, "panel": contact_panel(contact=contact)},
        request=request,
    )
    if request.method == "POST":
        return JsonResponse({"ok": True, "panel": html})
    return HttpResponse(html)


@require_http_methods(["GET", "POST"])
@agent_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    """Write first: a new or existing customer, on SMS, WhatsApp, email or a call."""
    error = ""
    if request.method == "POST":
        inbox_id = request.POST.get("inbox", "")
        inbox = (
            inbox_visible_to(request.user).filter(pk=int(inbox_id)).first() if inbox_id.isdigit() else None
        )
        try:
            if inbox_id and inbox is None:
                raise NotFound("No such inbox.")
            entry = conversation_start(
                by=request_agent(request),
                channel=request.POST.get("channel", ""),
                address=request.POST.get("address", ""),
                name=request.POST.get("name", ""),
                body=request.POST.get("body", ""),
                inbox=inbox,
            )
            return redirect(f"/inbox/{entry.conversation_id}/")
        except HubError as failure:
            error = failure.message
    return render(
        request,
        "conversations/new.html",
        {
            "error": error,
            "form": request.POST if error else {},
            "channels": [(c, label) for c, label in Entry.CHANNEL_CHOICES if c in START_CHANNELS],
            "inboxes": inbox_visible_to(request.user)
            .filter(kind__in=(Inbox.PHONE, Inbox.EMAIL))
            .order_by("name"),
            "is_admin": agent_is_admin(request.user),
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@agent_required
def contact_imports(request: HttpRequest) -> HttpResponse:
    """Managers and admins upload a CSV of customers; the import runs as a task with a progress page."""
    if not agent_sees_everything(request.user):
        raise DjangoPermissionDenied("Only managers and admins import customers.")
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ValidationError("Choose a CSV file to import.")
            if upload.size is not None and upload.size > SOURCE_MAX_BYTES:
                raise ValidationError(
                    f"The file is over {SOURCE_MAX_BYTES // (1024 * 1024)} MB; split it in parts."
                )
            # The upload streams from Django's temporary file: a million rows are never read into memory.
            job = contact_import_create(by=request_agent(request), filename=upload.name or "", content=upload)
            return redirect(f"/inbox/contacts/import/{job.pk}/")
        except HubError as failure:
            error = failure.message
    return render(
        request,
        "conversations/contact_import.html",
        {
            "error": error,
            "imports": ContactImport.objects.order_by("-created_at")[:20],
            "attribute_keys": list(AttributeDefinition.objects.values_list("key", flat=True)),
            "is_admin": agent_is_admin(request.user),
        },
        status=400 if error else 200,
    )


@require_GET
@agent_required
def contact_import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    """An import's progress and refused rows: a page, or JSON the page polls."""
    job = ContactImport.objects.filter(pk=import_id).first() if agent_sees_everything(request.user) else None
    if job is None:
        raise Http404("No such import.")
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "state": job.state,
                "percent": job.percent,
                "processed": job.processed_rows,
                "total": job.total_rows,
                "created": job.created_count,
                "merged": job.merged_count,
                "refused": job.refused,
                "refused_count": job.refused_count,
                "error": job.error,
            }
        )
    return render(
        request,
        "conversations/contact_import_progress.html",
        {"job": job, "is_admin": agent_is_admin(request.user)},
    )


@require_POST
@agent_required
def bulk(request: HttpRequest) -> HttpResponse:
    """An action on the conversations selected in the list (`ids`), thread by thread, each checked."""
    ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit() and len(value) < 12]
    try:
        result = conversations_bulk_apply(
            user=request_agent(request),
            conversation_ids=ids,
            action=request.POST.get("action", ""),
            value=request.POST.get("value", ""),
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse(
        {"done": result.done, "refused": [{"id": pk, "reason": reason} for pk, reason in result.refused]}
    )


@require_POST
@agent_required
def macro_apply_view(request: HttpRequest, macro_id: int) -> HttpResponse:
    """A macro on the open thread or the selected rows (`ids`), from the command palette."""
    macro = Macro.objects.filter(pk=macro_id).first()
    if macro is None:
        return json_error(NotFound("No such macro."))
    ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit() and len(value) < 12]
    try:
        results = macro_apply(macro=macro, conversation_ids=ids, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "results": results})


def _palette(request: HttpRequest, conversation_id: int | None) -> dict[str, Any]:
    """What the command palette offers on this page (static/js/palette.js)."""
    links = [{"name": "Inbox", "url": "/inbox/"}, {"name": "Reports", "url": "/reports/"}]
    if agent_sees_everything(request.user):
        links.append({"name": "Automation rules", "url": "/inbox/settings/rules/"})
        links.append({"name": "Sequences", "url": "/inbox/settings/sequences/"})
    return {
        "conversation": conversation_id,
        "macros": list(Macro.objects.order_by("name").values("id", "name")),
        "sequences": list(Sequence.objects.filter(enabled=True).order_by("name").values("id", "name")),
        "priorities": Conversation.PRIORITY_CHOICES,
        "links": links,
    }


@require_GET
@agent_required
def canned_picker(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The composer's `/` picker: matching canned responses, filled in for this thread's customer and agent."""
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    results = [
        {
            "id": canned.pk,
            "shortcut": canned.shortcut,
            "title": canned.title,
            "text": canned_render(
                text=canned.body, contact=conversation.contact, agent=request_agent(request)
            ),
        }
        for canned in canned_list(query=request.GET.get("q", ""))
    ]
    return JsonResponse({"results": results})


@require_http_methods(["GET", "POST"])
@agent_required
def canned_page(request: HttpRequest) -> HttpResponse:
    """Canned responses: every agent adds them; their author or an admin changes or deletes them."""
    error = ""
    if request.method == "POST":
        try:
            wanted = request.POST.get("id", "")
            canned = canned_get(canned_id=int(wanted)) if wanted.isdigit() else None
            if canned is not None and request.POST.get("delete"):
                canned_delete(by=request_agent(request), canned=canned)
            else:
                canned_save(
                    by=request_agent(request),
                    canned=canned,
                    shortcut=request.POST.get("shortcut", ""),
                    title=request.POST.get("title", ""),
                    body=request.POST.get("body", ""),
                )
            return redirect("/inbox/canned/")
        except HubError as failure:
            error = failure.message
    return render(
        request,
        "conversations/canned.html",
        {
            "canned": canned_list(limit=1000),
            "variables": sorted(VARIABLES),
            "error": error,
            "form": request.POST if error else {},
            "is_admin": agent_is_admin(request.user),
        },
        status=400 if error else 200,
    )


@require_GET
@agent_required
def search_page(request: HttpRequest) -> HttpResponse:
    """The customers whose name, phone or email matches, then full-text search over every thread the agent may
    see; each hit opens its thread (at the entry)."""
    before = entry_cursor_parse(request.GET.get("before", ""))
    page = entry_search(user=request.user, query=request.GET.get("q", ""), before=before)
    return render(
        request,
        "conversations/search.html",
        {
            # Customers first (by name, a phone typed any way, an email), then the messages.
            "customers": customers_find(user=request.user, query=page.query) if before is None else [],
            "page": page,
            "next_cursor": entry_cursor_format(page.next_cursor) if page.next_cursor else "",
            "is_admin": agent_is_admin(request.user),
        },
    )


@require_GET
@agent_required
def conversation_rows(request: HttpRequest) -> HttpResponse:
    """The next page of the list, after a cursor."""
    params = _list_params(request)
    after = _parse_list_cursor(request.GET.get("after", ""))
    conversations = conversation_list(user=request.user, after=after, **params)
    return render(
        request,
        "conversations/_conversation_rows.html",
        {"conversations": conversations, "list_cursor": _list_cursor(conversations), "params": params},
    )


@require_GET
@agent_required
def entries_older(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    after = entry_cursor_parse(request.GET.get("after", ""))
    if after is not None:
        # Scrolling back down a thread opened in its past (a search hit, a date).
        newer = entry_page_after(conversation=conversation, after=after)
        return render(
            request,
            "conversations/_entries_newer.html",
            {
                "c": conversation,
                "entries": newer,
                "newer_cursor": entry_cursor_format(newer[-1]) if len(newer) == 50 else "",
            },
        )
    before = entry_cursor_parse(request.GET.get("before", ""))
    entries = entry_page(conversation=conversation, before=before)
    return render(
        request,
        "conversations/_entries_page.html",
        {"c": conversation, "entries": entries, "older_cursor": _entry_cursor(entries)},
    )


@require_POST
@agent_required
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    body = request.POST.get("body", "")
    try:
        if request.FILES and (request.POST.get("kind") == "note" or request.POST.get("template")):
            # Said, never dropped: the agent's files stay in the composer.
            raise ValidationError(
                "Files go out with a reply; remove them to write a note."
                if request.POST.get("kind") == "note"
                else "A template cannot carry these files; send them in a reply inside WhatsApp's 24 hours."
            )
        if request.POST.get("send_later") == "1":
            return _reply_later(request, conversation, body)
        if request.POST.get("kind") == "note":
            entry = note_add(conversation=conversation, author=request_agent(request), body=body)
        else:
            inbox_id = request.POST.get("inbox", "")
            inbox = (
                inbox_visible_to(request.user).filter(pk=int(inbox_id)).first()
                if inbox_id.isdigit()
                else None
            )
            if inbox_id.isdigit() and inbox is None:
                raise NotFound("No such inbox.")
            template_id = request.POST.get("template", "")
            if template_id:
                return _template_reply(request, conversation, template_id, inbox)
            entry = message_send(
                conversation=conversation,
                body=body,
                author=request_agent(request),
                channel=request.POST.get("channel") or None,
                inbox=inbox,
                keep_cc=request.POST.get("drop_cc") != "1",
                uploads=request.FILES.getlist("files"),
            )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(entry.pk)}, status=201)


def _reply_later(request: HttpRequest, conversation: Conversation, body: str) -> HttpResponse:
    """ "Send later": the reply scheduled as a follow-up message, which beat sends when due (reports' follow-ups),
    cancellable from the thread until then."""
    from reports.models import ScheduledFollowUp
    from reports.services import followup_schedule

    if request.POST.get("kind") == "note":
        raise ValidationError("A note is saved now; only a reply can be sent later.")
    if request.FILES:
        raise ValidationError("A reply sent later carries text only; send the files now, or remove them.")
    due_at = parse_when(request.POST.get("send_at", ""))
    if due_at is None:
        raise ValidationError("Pick when the reply should go out.")
    inbox_id = request.POST.get("inbox", "")
    inbox = inbox_visible_to(request.user).filter(pk=int(inbox_id)).first() if inbox_id.isdigit() else None
    followup = followup_schedule(
        conversation=conversation,
        by=request_agent(request),
        kind=ScheduledFollowUp.MESSAGE,
        due_at=due_at,
        body=body,
        channel=request.POST.get("channel", ""),
        inbox=inbox,
        cancel_on_reply=False,  # the agent wrote it to go out at that time, whatever the customer says first
    )
    assert followup.entry_id is not None
    return JsonResponse(
        {"entry": entry_json(followup.entry_id), "scheduled_for": due_at.isoformat()}, status=201
    )


def _template_reply(
    request: HttpRequest, conversation: Conversation, template_id: str, inbox: Inbox | None
) -> HttpResponse:
    """The composer's template form: `template` and a `var_<placeholder>` field for each placeholder."""
    from channels_adapters.whatsapp_templates import template_send_by_id

    if not template_id.isdigit() or len(template_id) > 12:
        return json_error(NotFound("No such approved template for this inbox's WhatsApp number."))
    variables = {key[4:]: str(request.POST.get(key, "")) for key in request.POST if key.startswith("var_")}
    try:
        entry = template_send_by_id(
            conversation=conversation,
            template_id=int(template_id),
            variables=variables,
            author=request_agent(request),
            inbox=inbox,
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(entry.pk)}, status=201)


@require_POST
@agent_required
def set_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    try:
        conversation = conversation_set_status(
            conversation=conversation,
            status=request.POST.get("status", ""),
            by=request_agent(request),
            snoozed_until=parse_when(request.POST.get("snoozed_until", "")),
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "status": conversation.status})


@require_POST
@agent_required
def set_priority(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    try:
        conversation = conversation_set_priority(
            conversation=conversation, priority=request.POST.get("priority", ""), by=request_agent(request)
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "priority": conversation.priority})


def parse_when(value: str) -> datetime | None:
    """An ISO 8601 time from a form or the API; one without an offset is read in the hub's time zone."""
    from django.utils import timezone

    from config.errors import ValidationError

    text = value.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{text!r} is not a time; write it as 2026-11-23T09:00+01:00.") from None
    return when if timezone.is_aware(when) else timezone.make_aware(when)


@require_POST
@agent_required
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """To an agent (`assignee`: an id, "me" or empty for nobody) or to a team's queue (`team`)."""
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    try:
        if "team" in request.POST:
            value = request.POST.get("team", "")
            team = Team.objects.filter(pk=int(value)).first() if value.isdigit() else None
            if value.isdigit() and team is None:
                return json_error(NotFound("No such team."))
            conversation = conversation_assign_team(
                conversation=conversation, team=team, by=request_agent(request)
            )
            return JsonResponse({"ok": True, "team": conversation.team_id})
        value = request.POST.get("assignee", "")
        assignee = None
        if value == "me":
            assignee = request_agent(request)
        elif value.isdigit():
            assignee = User.objects.filter(pk=int(value), is_active=True).first()
            if assignee is None:
                return json_error(NotFound("No such agent."))
        conversation = conversation_assign(
            conversation=conversation, assignee=assignee, by=request_agent(request)
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "assignee": conversation.assignee_id})


@require_POST
@agent_required
def block(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Block the customer (`blocked=1`) or unblock them (`blocked=0`)."""
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    conversation = conversation_block(
        conversation=conversation, blocked=request.POST.get("blocked", "1") == "1", by=request_agent(request)
    )
    return JsonResponse({"ok": True, "blocked": conversation.blocked_at is not None})


@require_GET
@agent_required
def notifications(request: HttpRequest) -> HttpResponse:
    items = notification_list(user=request.user)
    return render(
        request,
        "conversations/notifications.html",
        {
            "notifications": [(n, notification_text(n)) for n in items],
            "is_admin": agent_is_admin(request.user),
        },
    )


@require_POST
@agent_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark notifications read: the `id` fields given, or all of them."""
    ids = [int(value) for value in request.POST.getlist("id") if value.isdigit()]
    count = notifications_mark_read(user=request_agent(request), ids=ids or None)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"ok": True, "read": count})
    return redirect("/inbox/notifications/")


@require_GET
@agent_required
def agents_page(request: HttpRequest) -> HttpResponse:
    """Admins see every agent, their teams and availability, and deactivate those who left."""
    if not agent_is_admin(request.user):
        raise DjangoPermissionDenied("Only admins manage agents.")
    profiles = (
        AgentProfile.objects.select_related("user").prefetch_related("teams").order_by("user__username")
    )
    return render(request, "conversations/agents.html", {"profiles": profiles, "is_admin": True})


@require_POST
@agent_required
def agent_active(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivate (`active=0`) or reactivate (`active=1`) an agent; admins only."""
    if not agent_is_admin(request.user):
        raise DjangoPermissionDenied("Only admins manage agents.")
    agent = User.objects.filter(pk=user_id, agent__isnull=False).first()
    if agent is None:
        raise Http404("No such agent.")
    try:
        if request.POST.get("active") == "1":
            agent_reactivate(agent=agent, by=request_agent(request))
        else:
            agent_deactivate(agent=agent, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return redirect("/inbox/agents/")


@require_POST
@agent_required
def call_back(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Click-to-call: Twilio rings the agent's phone, then the customer; an outbound call entry records it."""
    from channels_adapters.voice.services import call_place

    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    inbox_id = request.POST.get("inbox", "")
    inbox = inbox_visible_to(request.user).filter(pk=int(inbox_id)).first() if inbox_id.isdigit() else None
    if inbox_id.isdigit() and inbox is None:
        raise NotFound("No such inbox.")
    try:
        entry = call_place(conversation=conversation, agent=request_agent(request), inbox=inbox)
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(entry.pk)}, status=201)


@require_http_methods(["GET", "POST"])
@agent_required
def profile(request: HttpRequest) -> HttpResponse:
    """An agent's own phone number (click-to-call rings it, incoming calls ring it) and availability."""
    agent = agent_profile(request.user)
    error = ""
    saved = False
    if request.method == "POST" and agent is not None:
        try:
            agent = agent_profile_update(
                profile=agent,
                phone=request.POST.get("phone", ""),
                availability=request.POST.get("availability", ""),
            )
            saved = True
        except HubError as failure:
            error = failure.message
    return render(
        request,
        "conversations/profile.html",
        {
            "agent": agent,
            "availabilities": AgentProfile.AVAILABILITY_CHOICES,
            "error": error,
            "saved": saved,
            "is_admin": agent_is_admin(request.user),
            "push_devices": list(push_devices(request_agent(request))),
            "push_previews": push_previews(request_agent(request)),
        },
        status=400 if error else 200,
    )


@require_POST
@agent_required
def retry_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = entry_visible_to(request.user).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    try:
        entry = entry_retry(entry=entry, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(entry.pk)})


@require_POST
@agent_required
def redact_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The thread's "Redact…" on one message: its text becomes "redacted by <agent>" (docs/privacy.md)."""
    from privacy.services import entry_redact

    entry = entry_visible_to(request.user).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    try:
        result = entry_redact(entry=entry, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"entry": entry_json(result.entry.pk), "already": result.already})


@require_POST
@agent_required
def identity_accept(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The agent adds the new address an email came from to the customer."""
    from channels_adapters.email.services import identity_suggestion_accept

    entry = entry_visible_to(request.user).select_related("conversation__contact").filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    try:
        identity = identity_suggestion_accept(entry=entry, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "identity": identity.address})


@require_POST
@agent_required
def merge(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Merge another customer (the form's `contact`) into this thread's customer."""
    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    other_id = request.POST.get("contact", "")
    other = contact_visible_to(request.user).filter(pk=int(other_id)).first() if other_id.isdigit() else None
    if other is None:
        return json_error(NotFound("No such customer."))
    try:
        survivor = contact_merge(source=other, into=conversation.contact, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "redirect": f"/inbox/{survivor.conversation.pk}/"})


@require_GET
@agent_required
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    attachment = attachment_visible_to(request.user).filter(pk=attachment_id, state="stored").first()
    if attachment is None or not attachment.file:
        raise Http404("No such attachment.")
    # Shown inline only as a raster image or audio whose type we sniffed from the bytes; anything else (SVG,
    # HTML, PDF, whatever the sender called it) is a download with no type a browser would render.
    inline = attachment.is_inline_image or attachment.is_inline_audio
    filename = attachment.filename or f"attachment-{attachment.pk}"
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        # Saved from the browser, an inline image keeps the extension of what it is, never `.html`.
        filename=filename_for(filename, attachment.content_type) if inline else filename,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_http_methods(["GET", "POST"])
@agent_required
def inbox_settings(request: HttpRequest) -> HttpResponse:
    if not agent_is_admin(request.user):
        raise DjangoPermissionDenied("Only admins configure inboxes.")
    from channels_adapters.webchat.settings import widget_settings_update

    errors: dict[int, str] = {}
    saved: int | None = None
    if request.method == "POST":
        inbox_id = request.POST.get("inbox", "")
        target = Inbox.objects.filter(pk=int(inbox_id)).first() if inbox_id.isdigit() else None
        if target is None:
            raise Http404("No such inbox.")
        try:
            widget_settings_update(inbox=target, form=request.POST)
            saved = target.pk
        except HubError as failure:
            errors[target.pk] = failure.message
    return inbox_settings_render(request, errors=errors, saved=saved)


def inbox_settings_render(
    request: HttpRequest,
    *,
    errors: dict[int, str] | None = None,
    saved: int | None = None,
    secret_shown: dict[str, Any] | None = None,
) -> HttpResponse:
    """The inbox settings page; `secret_shown` is a secret an admin asked to see or just rotated, shown once."""
    from django.conf import settings

    from channels_adapters.webchat.services import refused_origins
    from channels_adapters.webchat.settings import previous_secret_valid_until
    from contacts.selectors import user_ids_waiting_for_site

    errors = errors or {}
    base = settings.PUBLIC_BASE_URL
    inboxes = list(Inbox.objects.select_related("team", "twilio_account").order_by("is_default", "name"))
    for inbox in inboxes:
        inbox.previous_secret_until = previous_secret_valid_until(inbox)  # type: ignore[attr-defined]
        inbox.refused = refused_origins(inbox=inbox) if inbox.kind == Inbox.WEBCHAT else []  # type: ignore[attr-defined]
    unrouted = (
        Entry.objects.filter(inbox__is_default=True, data__has_key="unrouted_to")
        .values("to_address")
        .annotate(messages=Count("id"))
        .order_by("-messages")[:50]
    )
    return render(
        request,
        "conversations/inbox_settings.html",
        {
            "inboxes": inboxes,
            "unrouted": unrouted,
            "urls": {
                "messaging": f"{base}/webhooks/twilio/messaging/",
                "status": f"{base}/webhooks/twilio/messaging/status/",
                "voice": f"{base}/webhooks/twilio/voice/",
                "voice_status": f"{base}/webhooks/twilio/voice/status/",
                "email_inbound": f"{base}/anymail/<esp>/inbound/",
                "email_tracking": f"{base}/anymail/<esp>/tracking/",
            },
            "public_base_url": base,
            "user_ids_waiting": user_ids_waiting_for_site(),
            "errors": errors,
            "saved": saved,
            "secret_shown": secret_shown,
        },
        status=400 if errors else 200,
    )


@require_GET
@agent_required
def sandbox(request: HttpRequest) -> HttpResponse:
    records = sandbox_records()
    references = [int(r["reference"]) for r in records if str(r.get("reference", "")).isdigit()]
    visible = set(entry_visible_to(request.user).filter(pk__in=references).values_list("pk", flat=True))
    shown = [r for r in records if str(r.get("reference", "")).isdigit() and int(r["reference"]) in visible]
    return render(request, "conversations/sandbox.html", {"records": shown})


# --- helpers ------------------------------------------------------------------------------------
def _thread_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    from channels_adapters.outbound import reply_default_channel, reply_default_inbox

    send_inboxes = [
        inbox
        for inbox in inbox_visible_to(request.user)
        .filter(kind__in=(Inbox.PHONE, Inbox.EMAIL))
        .order_by("kind", "name")
        if inbox.address or inbox.messaging_service_sid
    ]
    default_inbox = conversation.last_inbound_inbox if conversation.last_inbound_channel == "email" else None
    default_inbox = default_inbox or reply_default_inbox(conversation)
    agents = agents_for_conversation(conversation)
    identities = list(conversation.contact.identities.all())
    channels = [("sms", "SMS"), ("whatsapp", "WhatsApp"), ("email", "Email")]
    if any(identity.kind == "visitor" for identity in identities):
        channels.append(("webchat", "Web chat"))
    phone_inbox = default_inbox if default_inbox is not None and default_inbox.kind == Inbox.PHONE else None
    return {
        **_template_picker(request, conversation, phone_inbox, identities),
        "c": conversation,
        "channels": channels,
        "default_channel": reply_default_channel(conversation),
        "send_inboxes": send_inboxes,
        "default_inbox_id": default_inbox.pk if default_inbox else None,
        "agents": agents,
        "teams": Team.objects.filter(inboxes__conversation_links__conversation=conversation).distinct(),
        "identities": identities,
    }


def _template_picker(
    request: HttpRequest, conversation: Conversation, inbox: Inbox | None, identities: list[Any]
) -> dict[str, Any]:
    """The composer's WhatsApp templates, with a word when the 24-hour window is closed."""
    from channels_adapters.outbound import whatsapp_window_open
    from channels_adapters.whatsapp_templates import template_suggested_values, templates_for

    if inbox is None or not any(identity.kind == "phone" for identity in identities):
        return {"templates": []}
    agent = request_agent(request)
    templates = [
        {
            "id": template.pk,
            "name": template.name,
            "language": template.language,
            "body": template.body,
            "fields": [
                {"name": name, "value": value}
                for name, value in template_suggested_values(template, conversation, agent).items()
            ],
        }
        for template in templates_for(inbox)
    ]
    if not templates:
        return {"templates": []}
    return {
        "templates": templates,
        "template_inbox": inbox,
        "whatsapp_window_open": whatsapp_window_open(conversation),
    }


def _list_cursor(conversations: list[Conversation]) -> str:
    if len(conversations) < 50:
        return ""
    last = conversations[-1]
    rank = getattr(last, "rank", None)  # sorted by priority: the cursor starts with the rank
    return f"{'' if rank is None else f'{rank}~'}{last.last_activity_at.isoformat()}|{last.pk}"


def _entry_cursor(entries: list[Entry]) -> str:
    if len(entries) < 50:
        return ""
    return entry_cursor_format(entries[0])


def _parse_pair(value: str) -> tuple[datetime, int] | None:
    when, _, pk = value.rpartition("|")
    try:
        return datetime.fromisoformat(when), int(pk)
    except ValueError:
        return None


def _parse_list_cursor(value: str) -> ListCursor | None:
    rank, _, rest = value.rpartition("~")
    pair = _parse_pair(rest)
    if pair is None or (rank and not rank.removeprefix("-").isdigit()):
        return None
    return ListCursor(*pair, rank=int(rank) if rank else None)


# --- privacy: erase and export a customer from the panel (docs/privacy.md) ---------------------------
@require_POST
@agent_required
def contact_erase_ui(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Erase this thread's customer (managers and admins, with a reason): the page reloads on the stub."""
    from privacy.services import contact_erase

    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    try:
        result = contact_erase(
            contact=conversation.contact, by=request_agent(request), reason=request.POST.get("reason", "")
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "already": result.already, "redirect": f"/inbox/{conversation.pk}/"})


@require_POST
@agent_required
def contact_export_ui(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Start an export of everything held about this thread's customer; its page shows the progress."""
    from privacy.services import contact_export_create

    conversation = conversation_get_visible(user=request_agent(request), conversation_id=conversation_id)
    try:
        job = contact_export_create(contact=conversation.contact, by=request_agent(request))
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "redirect": f"/inbox/contact-exports/{job.pk}/"})


@require_GET
@agent_required
def contact_export_page(request: HttpRequest, contact_export_id: int) -> HttpResponse:
    """The export's progress bar (polling the API's status) and, once done, its download link."""
    from privacy.models import ContactExport

    if not agent_sees_everything(request.user):
        return HttpResponse("Only managers and admins export a customer's data.", status=403)
    jobs = ContactExport.objects.filter(pk=contact_export_id)
    if not agent_is_admin(request.user):
        jobs = jobs.filter(created_by=request.user.pk)
    job = jobs.first()
    if job is None:
        raise Http404("No such export.")
    return render(request, "privacy/contact_export.html", {"job": job})
