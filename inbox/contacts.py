"""The Contacts page: every customer the agent may see, searched and filtered, exported, added and edited.

Thin views: the reads are `lifecycle.directory`, the writes `conversations.customers` (each change an event
in the customer's thread and a domain event).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from config import csv_safe
from config.errors import HubError, ValidationError
from contacts.models import AttributeDefinition
from contacts.selectors import AttributeRow
from conversations.customers import contact_create, contact_update, identity_attach
from conversations.models import Conversation
from conversations.selectors import agent_sees_everything, inbox_visible_to
from conversations.web import agent_required, request_agent
from lifecycle.directory import (
    PAGE,
    SORTS,
    DirectoryFilters,
    contact_directory,
    contact_directory_all,
    contact_get_visible,
    directory_choices,
)

EXPORT_COLUMNS = ["id", "name", "phone", "email", "stage", "labels", "owner", "last_activity", "thread"]


def _filters(request: HttpRequest) -> DirectoryFilters:
    label, sort = request.GET.get("label", "")[:12], request.GET.get("sort", "")
    return DirectoryFilters(
        query=request.GET.get("q", "")[:500].strip(),
        label_id=int(label) if label.isdigit() else None,
        stage_key=request.GET.get("stage", "")[:32],
        attribute_key=request.GET.get("attr", "")[:50],
        attribute_value=request.GET.get("value", "")[:1000],
        sort=sort if sort in SORTS else "recent",
    )


def _query(filters: DirectoryFilters, **override: Any) -> str:
    values: dict[str, Any] = {
        "q": filters.query,
        "label": filters.label_id,
        "stage": filters.stage_key,
        "attr": filters.attribute_key,
        "value": filters.attribute_value if filters.attribute_key else "",
        "sort": "" if filters.sort == "recent" else filters.sort,
    }
    values.update(override)
    return urlencode({key: value for key, value in values.items() if value not in (None, "")})


@require_GET
@agent_required
def contacts_page(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    page_number = request.GET.get("page", "1")[:6]
    error = ""
    try:
        page = contact_directory(
            user=request.user, filters=filters, page=int(page_number) if page_number.isdigit() else 1
        )
    except ValidationError as problem:
        error, page = problem.message, None
    return render(
        request,
        "contacts/contacts.html",
        {
            "filters": filters,
            "page": page,
            "error": error,
            "per_page": PAGE,
            "query": _query(filters),
            "next_query": _query(filters, page=page.page + 1) if page and page.has_next else "",
            "previous_query": _query(filters, page=page.page - 1) if page and page.page > 1 else "",
            "sorts": [("recent", "Latest activity"), ("name", "Name"), ("created", "Newest customers")],
            **directory_choices(),
        },
        status=400 if error else 200,
    )


class _Echo:
    def write(self, text: str) -> str:
        return text


@require_GET
@agent_required
def contacts_export(request: HttpRequest) -> HttpResponseBase:
    """The list as filtered, every page of it, as CSV (cells a spreadsheet would run defused), streamed."""
    filters = _filters(request)
    user = request.user
    try:
        rows = contact_directory_all(user=user, filters=filters)
        first = next(rows, None)
    except ValidationError as problem:
        return HttpResponse(problem.message, status=400, content_type="text/plain; charset=utf-8")
    base = request.build_absolute_uri("/inbox/")
    writer = csv_safe.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(EXPORT_COLUMNS)
        current = first
        while current is not None:
            stage = current.stage
            yield writer.writerow(
                [
                    current.contact.pk,
                    current.contact.display_name,
                    current.phone,
                    current.email,
                    stage.name if stage is not None else "",
                    "; ".join(label.name for label in current.labels),
                    current.owner_name,
                    current.conversation.last_activity_at.isoformat(),
                    f"{base}{current.conversation.pk}/",
                ]
            )
            current = next(rows, None)

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@agent_required
def contact_new(request: HttpRequest) -> HttpResponse:
    agent = request_agent(request)
    inboxes = list(inbox_visible_to(agent).order_by("name"))
    form = {
        key: request.POST.get(key, "")[:400] for key in ("name", "phone", "email", "external_id", "inbox")
    }
    error = ""
    if request.method == "POST":
        chosen = next((i for i in inboxes if str(i.pk) == form["inbox"]), None)
        try:
            if form["inbox"] and chosen is None:
                raise ValidationError("Pick one of your inboxes.")
            if chosen is None and inboxes and not agent_sees_everything(agent):
                chosen = inboxes[0]  # an agent's customer belongs to one of their teams' inboxes
            contact = contact_create(
                by=agent,
                name=form["name"],
                phone=form["phone"],
                email=form["email"],
                external_id=form["external_id"],
                inbox=chosen,
            )
        except HubError as problem:
            error = problem.message
        else:
            return redirect(f"/contacts/{contact.pk}/?saved=created")
    return render(
        request,
        "contacts/contact_new.html",
        {"form": form, "inboxes": inboxes, "error": error, "sees_everything": agent_sees_everything(agent)},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@agent_required
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    """A customer's name, custom attributes and addresses; a POST saves one of the two forms."""
    agent = request_agent(request)
    contact = contact_get_visible(user=agent, contact_id=contact_id)
    definitions = list(AttributeDefinition.objects.all())
    error, saved = "", request.GET.get("saved", "")
    if request.method == "POST":
        try:
            if request.POST.get("form") == "identity":
                identity_attach(
                    contact=contact,
                    kind="email" if request.POST.get("kind") == "email" else "phone",
                    address=request.POST.get("address", "")[:320],
                    by=agent,
                )
                saved = "identity"
            else:
                contact_update(
                    contact=contact,
                    by=agent,
                    name=request.POST.get("name", "")[:400],
                    attributes={
                        d.key: request.POST[f"attr_{d.key}"]
                        for d in definitions
                        if f"attr_{d.key}" in request.POST
                    },
                )
                saved = "details"
        except HubError as problem:
            error = problem.message
        else:
            return redirect(f"/contacts/{contact.pk}/?saved={saved}")
    contact.refresh_from_db()
    values = contact.attributes or {}
    return render(
        request,
        "contacts/contact_edit.html",
        {
            "contact": contact,
            "conversation": Conversation.objects.filter(contact=contact).first(),
            "identities": list(contact.identities.order_by("kind", "pk")),
            "attributes": [AttributeRow(definition=d, value=values.get(d.key)) for d in definitions],
            "error": error,
            "saved": saved,
            "posted": request.POST if error else None,
        },
        status=400 if error else 200,
    )
