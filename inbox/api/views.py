"""The REST API: thin views over the same selectors and services as the agent UI."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from django.db.models import F, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from channels_adapters.models import MessageTemplate
from channels_adapters.outbound import message_send
from channels_adapters.start import conversation_start
from channels_adapters.whatsapp_templates import template_send_by_id, templates_for, templates_sync_all
from config.errors import NotFound, PermissionDenied, ValidationError
from contacts.addresses import normalize_any
from contacts.models import Contact, Label
from conversations.api.pagination import StrictCursorPagination
from conversations.api.permissions import IsAdminForWrites, IsAgent, IsManagerOrAdmin
from conversations.assignment import agent_availability_set, agent_deactivate, conversation_assign_team
from conversations.bulk import conversations_bulk_apply
from conversations.canned import canned_list
from conversations.customers import contact_merge, contact_update, label_create
from conversations.models import (
    AgentProfile,
    CannedResponse,
    Conversation,
    Entry,
    Inbox,
    Notification,
    SavedView,
    Team,
)
from conversations.notifications import notifications_mark_read
from conversations.saved_views import saved_view_create
from conversations.search import entry_search
from conversations.selectors import (
    agent_is_admin,
    agent_profile,
    agent_sees_everything,
    contact_get_visible,
    contact_visible_to,
    entry_cursor_format,
    entry_cursor_parse,
    entry_visible_to,
    inbox_visible_to,
    notification_list,
    notification_unread_count,
)
from conversations.services import (
    conversation_assign,
    conversation_block,
    conversation_get_visible,
    conversation_set_status,
    note_add,
)
from inbox.api.serializers import (
    AssignSerializer,
    AvailabilitySerializer,
    BlockSerializer,
    BulkActionSerializer,
    BulkResultSerializer,
    CannedResponseSerializer,
    ContactErasedSerializer,
    ContactEraseSerializer,
    ContactExportSerializer,
    ContactMergeSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    ConversationStartedSerializer,
    ConversationStartSerializer,
    ConversationSummarySerializer,
    EntrySerializer,
    InboxSerializer,
    LabelSerializer,
    MessageCreateSerializer,
    MessageTemplateSerializer,
    NoteSerializer,
    NotificationSerializer,
    NotificationsReadSerializer,
    SavedViewSerializer,
    SearchPageSerializer,
    StatusSerializer,
)
from privacy.models import ContactExport
from privacy.services import contact_erase, contact_export_create, entry_redact


def _inbox_given(request: Request, inbox_id: int | None) -> Inbox | None:
    """The inbox a request names (None when it names none); one the agent does not hold is a 404."""
    if not inbox_id:
        return None
    inbox = inbox_visible_to(request.user).filter(pk=inbox_id).first()
    if inbox is None:
        raise NotFound("No such inbox.")
    return inbox


class ContactList(generics.ListAPIView[Contact]):
    serializer_class = ContactSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "identity",
                OpenApiTypes.STR,
                description="An address: a phone number in any common format (normalized to E.164; "
                "whatsapp:+1... is the same phone) or an email address (case-insensitive).",
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Contact]:
        qs = (
            contact_visible_to(self.request.user)
            .select_related("conversation", "lifecycle__stage")
            .prefetch_related("identities", "labels")
        )
        identity = self.request.query_params.get("identity", "").strip()
        if identity:
            normalized = normalize_any(identity)
            qs = qs.filter(
                identities__kind=normalized.kind, identities__address=normalized.address
            ).distinct()
        return qs.order_by(F("conversation__last_activity_at").desc(nulls_last=True), "-id")


class ContactDetail(generics.RetrieveAPIView[Contact]):
    serializer_class = ContactSerializer

    def get_object(self) -> Contact:
        return contact_get_visible(self.request.user, int(self.kwargs["pk"]))

    @extend_schema(
        request=ContactUpdateSerializer,
        responses={200: ContactSerializer},
        description="Edit the customer: `name`, custom `attributes` (only the keys sent; null clears one; "
        "the keys an admin defined) and `labels` (the whole set, by id or name). The thread records who "
        "changed what.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = ContactUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        contact = contact_update(
            contact=contact,
            by=request.user,
            name=data.get("name"),
            attributes=data.get("attributes"),
            labels=data.get("labels"),
        )
        return Response(ContactSerializer(contact).data)


class LabelList(generics.ListCreateAPIView[Label]):
    """The labels agents can put on customers; admins create them."""

    serializer_class = LabelSerializer
    pagination_class = None
    queryset = Label.objects.order_by("name")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        label = label_create(
            name=str(data.get("name", "")), color=str(data.get("color", "")), by=request.user
        )
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class TimelinePagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200


class ContactTimeline(generics.ListAPIView[Entry]):
    """The lifetime thread, newest first; follow `next` for older entries."""

    serializer_class = EntrySerializer
    pagination_class = TimelinePagination

    def get_queryset(self) -> QuerySet[Entry]:
        contact = contact_get_visible(self.request.user, int(self.kwargs["pk"]))
        # By the thread's id, not through a join on the contact: the planner then walks the thread's
        # (conversation, created_at, id) index from the newest end, however long the thread is.
        thread = Conversation.objects.filter(contact=contact).values_list("pk", flat=True).first()
        if thread is None:
            return Entry.objects.none()
        return (
            Entry.objects.filter(conversation_id=thread)
            .select_related("author")
            .prefetch_related("attachments")
        )


class ContactMessages(generics.GenericAPIView[Entry]):
    serializer_class = MessageCreateSerializer

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: EntrySerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        description="Queue a message to the contact. Channel and inbox default to those the customer last used. "
        "A send the channel's rules forbid (opted out, outside WhatsApp's 24-hour window) answers 409 with the reason.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = MessageCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        inbox = _inbox_given(request, data.get("inbox"))
        if data.get("template"):
            entry = template_send_by_id(
                conversation=contact.conversation,
                template_id=data["template"],
                variables=data["variables"],
                author=request.user,  # type: ignore[arg-type]
                inbox=inbox,
            )
            return Response(EntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        entry = message_send(
            conversation=contact.conversation,
            body=data["body"],
            author=request.user,  # type: ignore[arg-type]
            channel=data.get("channel"),
            inbox=inbox,
        )
        return Response(EntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class TemplateList(generics.ListAPIView[MessageTemplate]):
    """WhatsApp templates synced from Twilio's Content API, with their approval; `?inbox=` keeps the approved
    ones that inbox's number can send."""

    serializer_class = MessageTemplateSerializer
    pagination_class = None

    @extend_schema(
        parameters=[OpenApiParameter("inbox", int, required=False)],
        responses={
            200: MessageTemplateSerializer(many=True),
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        inbox_id = str(self.request.query_params.get("inbox", ""))
        if not inbox_id:
            return MessageTemplate.objects.order_by("name", "language")
        if not re.fullmatch(r"-?\d{1,12}", inbox_id):
            raise ValidationError("inbox: an inbox id (a whole number).")
        inbox = inbox_visible_to(self.request.user).filter(pk=int(inbox_id)).first()
        if inbox is None:
            raise NotFound("No such inbox.")
        return templates_for(inbox)


class TemplateSync(generics.GenericAPIView[MessageTemplate]):
    serializer_class = MessageTemplateSerializer
    permission_classes = [IsAgent, IsManagerOrAdmin]

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description="Read the templates and their approval from Twilio's Content API now (the hub also does "
        "hourly): per account, how many it holds, or why it could not be read.",
    )
    def post(self, request: Request) -> Response:
        return Response({"accounts": templates_sync_all()})


class ContactMerge(generics.GenericAPIView[Contact]):
    serializer_class = ContactMergeSerializer

    @extend_schema(
        request=ContactMergeSerializer,
        responses={200: ContactSerializer, 400: OpenApiTypes.OBJECT},
        description="Merge the customer `contact` into this one: identities and the lifetime thread move here, "
        "the merged-away id keeps answering with this contact, and the thread records who merged what.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = ContactMergeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        other = contact_get_visible(request.user, int(incoming.validated_data["contact"]))
        survivor = contact_merge(source=other, into=contact, by=request.user)
        return Response(ContactSerializer(survivor).data)


class InboxList(generics.ListAPIView[Inbox]):
    serializer_class = InboxSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Inbox]:
        return inbox_visible_to(self.request.user).order_by("name")


class InboxDetail(generics.RetrieveUpdateAPIView[Inbox]):
    serializer_class = InboxSerializer
    permission_classes = [IsAgent, IsAdminForWrites]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Inbox]:
        return inbox_visible_to(self.request.user)


# --- a thread's work: status, owner, notes, blocking ------------------------------------------------
def _conversation(request: Request, pk: int) -> Conversation:
    return conversation_get_visible(user=request.user, conversation_id=int(pk))  # type: ignore[arg-type]


class ConversationStatus(generics.GenericAPIView[Conversation]):
    serializer_class = StatusSerializer

    @extend_schema(
        request=StatusSerializer,
        responses={200: ConversationSummarySerializer},
        description="Open, pending (waiting for the customer), snoozed until `snoozed_until` (it wakes by "
        "itself then, or when the customer writes) or resolved. A time in the past answers 400 with the reason.",
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = _conversation(request, pk)
        incoming = StatusSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        conversation = conversation_set_status(
            conversation=conversation,
            status=incoming.validated_data["status"],
            by=request.user,  # type: ignore[arg-type]
            snoozed_until=incoming.validated_data.get("snoozed_until"),
        )
        return Response(ConversationSummarySerializer(conversation).data)


class ConversationAssign(generics.GenericAPIView[Conversation]):
    serializer_class = AssignSerializer

    @extend_schema(
        request=AssignSerializer,
        responses={200: ConversationSummarySerializer},
        description="Assign to an agent (`assignee`, null for nobody) and/or a team's queue (`team`). An agent "
        "or team that cannot see the conversation answers 400 with the reason.",
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = _conversation(request, pk)
        incoming = AssignSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        by = request.user
        if "team" in data:
            team = Team.objects.filter(pk=data["team"]).first() if data["team"] else None
            if data["team"] and team is None:
                raise NotFound("No such team.")
            conversation = conversation_assign_team(conversation=conversation, team=team, by=by)  # type: ignore[arg-type]
        if "assignee" in data:
            assignee = None
            if data["assignee"] is not None:
                assignee = User.objects.filter(
                    pk=data["assignee"], is_active=True, agent__isnull=False
                ).first()
                if assignee is None:
                    raise NotFound("No such agent.")
            conversation = conversation_assign(conversation=conversation, assignee=assignee, by=by)  # type: ignore[arg-type]
        return Response(ConversationSummarySerializer(conversation).data)


class ConversationNotes(generics.GenericAPIView[Entry]):
    serializer_class = NoteSerializer

    @extend_schema(
        request=NoteSerializer,
        responses={201: EntrySerializer},
        description="Add a private note. Each `@username` notifies that agent; one who cannot see the "
        "conversation (or no such agent) answers 400 with the reason, and no note is added.",
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = _conversation(request, pk)
        incoming = NoteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        entry = note_add(conversation=conversation, author=request.user, body=incoming.validated_data["body"])  # type: ignore[arg-type]
        return Response(EntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class ConversationBlock(generics.GenericAPIView[Conversation]):
    serializer_class = BlockSerializer

    @extend_schema(
        request=BlockSerializer,
        responses={200: ConversationSummarySerializer},
        description="Block the sender (their messages are still recorded, hidden from every view, and reopen "
        "nothing) or unblock them.",
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = _conversation(request, pk)
        incoming = BlockSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        conversation = conversation_block(
            conversation=conversation,
            blocked=incoming.validated_data["blocked"],
            by=request.user,  # type: ignore[arg-type]
        )
        return Response(ConversationSummarySerializer(conversation).data)


# --- notifications and agents ------------------------------------------------------------------------
class NotificationList(generics.ListAPIView[Notification]):
    """The agent's own notifications (mentions), newest first."""

    serializer_class = NotificationSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Notification]:
        ids = [n.pk for n in notification_list(user=self.request.user)]
        return (
            Notification.objects.filter(pk__in=ids)
            .select_related("actor", "entry")
            .order_by("-created_at", "-id")
        )


class NotificationsRead(generics.GenericAPIView[Notification]):
    serializer_class = NotificationsReadSerializer
    parser_classes = [
        JSONParser
    ]  # a form would take one id for a list of them, and an unreadable body all of them

    @extend_schema(request=NotificationsReadSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        incoming = NotificationsReadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        count = notifications_mark_read(user=request.user, ids=incoming.validated_data.get("ids"))  # type: ignore[arg-type]
        return Response({"read": count, "unread": notification_unread_count(request.user)})


class AgentAvailability(generics.GenericAPIView[AgentProfile]):
    serializer_class = AvailabilitySerializer

    @extend_schema(
        request=AvailabilitySerializer,
        responses={200: AvailabilitySerializer},
        description="Your own availability. Away and offline agents get no new threads automatically; after "
        "ASSIGNMENT_HANDOVER_AFTER_S their open threads go back to their team's queue.",
    )
    def post(self, request: Request) -> Response:
        profile = agent_profile(request.user)
        if profile is None:
            raise NotFound("This account has no agent profile.")
        incoming = AvailabilitySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        profile = agent_availability_set(
            profile=profile, availability=incoming.validated_data["availability"]
        )
        return Response({"availability": profile.availability})


class AgentDeactivate(generics.GenericAPIView[AgentProfile]):
    serializer_class = AvailabilitySerializer  # no body; drf-spectacular wants one

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description="Admins only: the agent can no longer log in; their open threads go back to their teams' "
        "queue, each with an event.",
    )
    def post(self, request: Request, pk: int) -> Response:
        if not agent_is_admin(request.user):
            raise PermissionDenied("Only admins deactivate agents.")
        agent = User.objects.filter(pk=int(pk), agent__isnull=False).first()
        if agent is None:
            raise NotFound("No such agent.")
        agent_deactivate(agent=agent, by=request.user)  # type: ignore[arg-type]
        return Response({"id": agent.pk, "active": False})


class Search(generics.GenericAPIView[Entry]):
    """Full-text search over every thread the agent may see, newest first; follow `next` for older hits."""

    serializer_class = SearchPageSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description='Words to find; "an exact phrase", -excluded and `or` work as in web search engines.',
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` of the previous page"),
        ],
        responses={200: SearchPageSerializer},
    )
    def get(self, request: Request) -> Response:
        given = request.query_params.get("cursor", "")
        cursor = entry_cursor_parse(given)
        if given and cursor is None:
            raise NotFound("Invalid cursor: pass the `next` of a page.")  # as DRF's cursor pagination answers
        page = entry_search(user=request.user, query=request.query_params.get("q", ""), before=cursor)
        data = {
            "query": page.query,
            "hits": page.hits,
            "next": entry_cursor_format(page.next_cursor) if page.next_cursor else None,
        }
        return Response(SearchPageSerializer(data).data)


class CannedResponseList(generics.ListAPIView[CannedResponse]):
    """The canned responses (their text with the `{{contact.first_name}}`-style variables unfilled)."""

    serializer_class = CannedResponseSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="A shortcut's start or a title's words")
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[CannedResponse]:
        ids = [c.pk for c in canned_list(query=self.request.query_params.get("q", ""), limit=1000)]
        return CannedResponse.objects.filter(pk__in=ids).order_by("shortcut")


class ConversationBulk(generics.GenericAPIView[Conversation]):
    serializer_class = BulkActionSerializer
    parser_classes = [JSONParser]  # a form would take one id for a list of them

    @extend_schema(
        request=BulkActionSerializer,
        responses={200: BulkResultSerializer, 404: OpenApiTypes.OBJECT},
        description="Assign, label or resolve many conversations at once. Each goes through the same checks "
        "as the single action: those the agent may not see or change are listed in `refused` with the reason. "
        "An unknown agent or label in `value` answers 404.",
    )
    def post(self, request: Request) -> Response:
        incoming = BulkActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        result = conversations_bulk_apply(
            user=request.user,  # type: ignore[arg-type]
            conversation_ids=data["ids"],
            action=data["action"],
            value=data.get("value", ""),
        )
        refused = [{"id": pk, "reason": reason} for pk, reason in result.refused]
        return Response(BulkResultSerializer({"done": result.done, "refused": refused}).data)


class ConversationStart(generics.GenericAPIView[Entry]):
    serializer_class = ConversationStartSerializer

    @extend_schema(
        request=ConversationStartSerializer,
        responses={
            201: ConversationStartedSerializer,
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
        },
        description="Write first to the customer at `address` (found, or made): the entry is queued in their "
        "lifetime thread. A send the channel's rules forbid (STOP, outside WhatsApp's window) answers 409; "
        "an inbox the agent does not hold, 404.",
    )
    def post(self, request: Request) -> Response:
        incoming = ConversationStartSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        inbox = _inbox_given(request, data.get("inbox"))
        entry = conversation_start(
            by=request.user,  # type: ignore[arg-type]
            channel=data["channel"],
            address=data["address"],
            name=data.get("name", ""),
            body=data.get("body", ""),
            inbox=inbox,
        )
        return Response(ConversationStartedSerializer(entry).data, status=status.HTTP_201_CREATED)


class SavedViewList(generics.ListCreateAPIView[SavedView]):
    """The agent's own saved views of the inbox list."""

    serializer_class = SavedViewSerializer
    pagination_class = None
    # JSON only: a form's flat fields cannot say what the filters object says.
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[SavedView]:
        return SavedView.objects.filter(agent_id=self.request.user.pk).order_by("name")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = SavedViewSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        view = saved_view_create(
            agent=request.user,  # type: ignore[arg-type]
            name=incoming.validated_data["name"],
            filters=incoming.validated_data.get("filters", {}),
        )
        return Response(SavedViewSerializer(view).data, status=status.HTTP_201_CREATED)


# --- privacy: erase and export a customer (docs/privacy.md) -----------------------------------------
class ContactErase(generics.GenericAPIView[Contact]):
    serializer_class = ContactEraseSerializer

    @extend_schema(
        request=ContactEraseSerializer,
        responses={200: ContactErasedSerializer, 403: OpenApiTypes.OBJECT},
        description="Managers and admins: erase the customer's personal data everywhere (addresses, name, "
        "texts, raw payloads, files, logs); a stub without identifiers keeps the reports' counts. Erasing "
        "twice changes nothing and says `already`.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = ContactEraseSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = contact_erase(contact=contact, by=request.user, reason=incoming.validated_data["reason"])  # type: ignore[arg-type]
        return Response(
            ContactErasedSerializer(
                {
                    "contact": result.contact_id,
                    "already": result.already,
                    "erased_at": result.erased_at,
                    "counts": result.counts,
                }
            ).data
        )


class EntryRedact(generics.GenericAPIView[Entry]):
    serializer_class = EntrySerializer

    @extend_schema(
        request=None,
        responses={200: EntrySerializer, 404: OpenApiTypes.OBJECT},
        description="Redact one message, note or call (a card number in a text): its body becomes "
        '"redacted by <agent>"; its attachments, raw payload and search index entry follow. Any agent who can '
        "see the thread may redact (404 otherwise); redacting twice changes nothing "
        "(`X-Already-Redacted: true`).",
    )
    def post(self, request: Request, pk: int) -> Response:
        entry = entry_visible_to(request.user).filter(pk=int(pk)).first()
        if entry is None:
            raise NotFound("No such entry.")
        result = entry_redact(entry=entry, by=request.user)  # type: ignore[arg-type]
        response = Response(EntrySerializer(result.entry).data)
        if result.already:
            response["X-Already-Redacted"] = "true"
        return response


def _export_data(job: ContactExport) -> dict[str, Any]:
    return ContactExportSerializer(
        {
            "id": job.pk,
            "state": job.state,
            "percent": job.percent,
            "done": job.done,
            "total": job.total,
            "error": job.error,
            "download": f"/api/v1/contact-exports/{job.pk}/download/"
            if job.state == ContactExport.DONE
            else "",
        }
    ).data


class ContactExportCreate(generics.GenericAPIView[ContactExport]):
    serializer_class = ContactExportSerializer

    @extend_schema(
        request=None,
        responses={202: ContactExportSerializer},
        description="Managers and admins: everything held about the customer as one zip of documented JSON "
        "and their files, built in the background; follow the job until `download` is set.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        job = contact_export_create(contact=contact, by=request.user)  # type: ignore[arg-type]
        job.refresh_from_db()
        return Response(_export_data(job), status=status.HTTP_202_ACCEPTED)


def _contact_export(request: Request, pk: int) -> ContactExport:
    """A manager's own export (an admin may open anyone's); agents are refused whatever the id."""
    if not agent_sees_everything(request.user):
        raise PermissionDenied("Only managers and admins export a customer's data.")
    jobs = ContactExport.objects.filter(pk=pk)
    if not agent_is_admin(request.user):
        jobs = jobs.filter(created_by=request.user.pk)
    job = jobs.first()
    if job is None:
        raise NotFound("No such export.")
    return job


class ContactExportDetail(generics.GenericAPIView[ContactExport]):
    serializer_class = ContactExportSerializer

    def get(self, request: Request, pk: int) -> Response:
        return Response(_export_data(_contact_export(request, int(pk))))


class ContactExportDownload(generics.GenericAPIView[ContactExport]):
    serializer_class = ContactExportSerializer

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        job = _contact_export(request, int(pk))
        if job.state != ContactExport.DONE or not job.file:
            raise NotFound("This export is not ready.")
        response = FileResponse(
            job.file.open("rb"), as_attachment=True, filename=f"customer-export-{job.pk}.zip"
        )
        response["Content-Type"] = "application/zip"
        response["Cache-Control"] = "private, no-store"
        return response
