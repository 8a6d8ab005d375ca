"""The REST API: thin views over the same selectors and services as the agent UI."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from channels_adapters.outbound import message_send
from config.errors import NotFound
from contacts.addresses import normalize_any
from contacts.models import Contact
from contacts.services import contact_merge, contact_surviving
from conversations.api.pagination import StrictCursorPagination
from conversations.api.permissions import IsAdminForWrites, IsAgent
from conversations.api.serializers import (
    ContactMergeSerializer,
    ContactSerializer,
    EntrySerializer,
    InboxSerializer,
    MessageCreateSerializer,
)
from conversations.models import Conversation, Entry, Inbox
from conversations.selectors import contact_visible_to, inbox_visible_to


def contact_get_visible(user: Any, contact_id: int) -> Contact:
    """A contact the user may see; a merged-away id answers with the surviving contact."""
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is not None:
        contact = contact_surviving(contact)
    if contact is None or not contact_visible_to(user).filter(pk=contact.pk).exists():
        raise NotFound("No such contact.")
    return contact


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
            .select_related("conversation")
            .prefetch_related("identities")
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
        inbox = None
        if data.get("inbox"):
            inbox = inbox_visible_to(request.user).filter(pk=data["inbox"]).first()
            if inbox is None:
                raise NotFound("No such inbox.")
        entry = message_send(
            conversation=contact.conversation,
            body=data["body"],
            author=request.user,  # type: ignore[arg-type]
            channel=data.get("channel"),
            inbox=inbox,
        )
        return Response(EntrySerializer(entry).data, status=status.HTTP_201_CREATED)


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
