"""The sequences page (/inbox/settings/sequences/) for admins and managers: the sequences with who is in them and
who left, and a form that edits the steps one a line; and the customer panel's enrol and take-out buttons, for any
agent who can see the thread. The same services as the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import HubError
from conversations.models import Inbox
from conversations.services import conversation_get_visible
from conversations.web import agent_required, json_error, manager_required, request_agent
from sequences.defaults import READY_MADE
from sequences.models import Enrollment, Sequence
from sequences.services import enrollment_remove, sequence_enroll, sequence_save, sequences_ready_made
from sequences.steps import step_describe, steps_parse, steps_text

PAGE = "/inbox/settings/sequences/"
EXAMPLE = (
    "message: Hi {{contact.first_name}}, thanks for your order!\n"
    "wait 7 days\n"
    "message: How is it going? Anything we can help with?\n"
    "wait 3 business days\n"
    "task: Call them if they have not answered"
)


def _get(model: Any, value: str, what: str) -> Any:
    found = model.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found


@require_http_methods(["GET", "POST"])
@manager_required
def sequences_page(request: HttpRequest) -> HttpResponse:
    user = request_agent(request)
    form: dict[str, Any] | None = None
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        editing = request.POST.get("sequence", "")
        sequence = _get(Sequence, editing, "sequence") if editing else None
        if action == "ready_made":
            added = sequences_ready_made(by=user)
            return redirect(f"{PAGE}?added={len(added)}#sequences")
        if action in ("on", "off") and sequence is not None:
            sequence.enabled = action == "on"
            sequence.save(update_fields=["enabled", "updated_at"])
            return redirect(f"{PAGE}?saved={sequence.pk}#sequence-{sequence.pk}")
        inbox_id = request.POST.get("inbox", "")
        form = {
            "id": sequence.pk if sequence else None,
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
            "steps_text": request.POST.get("steps", ""),
            "inbox": int(inbox_id) if inbox_id.isdigit() else None,
            "enabled": request.POST.get("enabled") == "1",
            "exit_on_stage_change": request.POST.get("exit_on_stage_change") == "1",
        }
        try:
            saved = sequence_save(
                by=user,
                sequence=sequence,
                name=form["name"],
                description=form["description"],
                steps=steps_parse(form["steps_text"]),
                enabled=form["enabled"],
                exit_on_stage_change=form["exit_on_stage_change"],
                inbox=Inbox.objects.filter(pk=form["inbox"]).first() if form["inbox"] else None,
            )
            return redirect(f"{PAGE}?saved={saved.pk}#sequence-{saved.pk}")
        except HubError as failure:
            error = failure.message  # the form comes back as typed, with the reason
    elif request.GET.get("new"):
        form = {"id": None, "name": "", "description": "", "steps_text": EXAMPLE, "inbox": None}
        form |= {"enabled": True, "exit_on_stage_change": True}
    elif request.GET.get("edit", "").isdigit():
        sequence = _get(Sequence, request.GET["edit"], "sequence")
        form = {
            "id": sequence.pk,
            "name": sequence.name,
            "description": sequence.description,
            "steps_text": steps_text(sequence.steps),
            "inbox": sequence.inbox_id,
            "enabled": sequence.enabled,
            "exit_on_stage_change": sequence.exit_on_stage_change,
        }
    saved_id = request.GET.get("saved", "")
    sequences = Sequence.objects.annotate(
        active=Count("enrollments", filter=Q(enrollments__state=Enrollment.ACTIVE)),
        completed=Count("enrollments", filter=Q(enrollments__state=Enrollment.COMPLETED)),
        left=Count("enrollments", filter=Q(enrollments__state=Enrollment.EXITED)),
        failed=Count("enrollments", filter=Q(enrollments__state=Enrollment.FAILED)),
    ).order_by("name")
    rows = [
        {
            "sequence": sequence,
            "steps": [step_describe(step) for step in sequence.steps],
            "saved": saved_id == str(sequence.pk),
        }
        for sequence in sequences
    ]
    shown = request.GET.get("sequence", "")
    people: dict[str, Any] | None = None
    if shown.isdigit():
        sequence = _get(Sequence, shown, "sequence")
        enrollments = (
            Enrollment.objects.filter(sequence=sequence)
            .select_related("contact", "contact__conversation")
            .order_by("-id")[:50]
        )
        people = {"sequence": sequence, "enrollments": enrollments, "total": len(sequence.steps)}
    return render(
        request,
        "sequences/sequences.html",
        {
            "rows": rows,
            "form": form,
            "error": error,
            "people": people,
            "inboxes": Inbox.objects.filter(kind__in=(Inbox.PHONE, Inbox.EMAIL)).order_by("name"),
            "ready_made_missing": [
                ready["name"]
                for ready in READY_MADE
                if not Sequence.objects.filter(name__iexact=ready["name"]).exists()
            ],
            "added": request.GET.get("added", ""),
        },
    )


@require_POST
@agent_required
def contact_sequences(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The customer panel: enrol the customer in a sequence (`sequence`), or take them out of one (`remove`)."""
    user = request_agent(request)
    conversation = conversation_get_visible(user=user, conversation_id=conversation_id)
    try:
        removing = request.POST.get("remove", "")
        if removing:
            enrollment = Enrollment.objects.filter(
                pk=int(removing) if removing.isdigit() else 0, contact=conversation.contact
            ).first()
            if enrollment is None:
                return JsonResponse(
                    {"error": "No such enrolment; reload the page.", "code": "invalid"}, status=400
                )
            enrollment_remove(enrollment=enrollment, by=user)
        else:
            chosen = request.POST.get("sequence", "")
            sequence = Sequence.objects.filter(pk=int(chosen) if chosen.isdigit() else 0).first()
            if sequence is None:
                return JsonResponse({"error": "Pick a sequence.", "code": "invalid"}, status=400)
            sequence_enroll(sequence=sequence, contact=conversation.contact, by=user, source="agent")
    except HubError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "redirect": f"/inbox/{conversation.pk}/"})
