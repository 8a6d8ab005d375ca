from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from channels_adapters.models import MessageTemplate
from channels_adapters.whatsapp_templates import template_placeholders
from contacts.models import Contact, Identity, Label
from conversations.models import (
    AgentProfile,
    Attachment,
    CannedResponse,
    Conversation,
    Entry,
    Inbox,
    Notification,
    SavedView,
)


class IdentitySerializer(serializers.ModelSerializer[Identity]):
    valid = serializers.BooleanField(source="is_valid", read_only=True)
    opted_out = serializers.SerializerMethodField()

    class Meta:
        model = Identity
        fields = ["kind", "address", "verified", "valid", "opted_out"]

    def get_opted_out(self, identity: Identity) -> bool:
        return identity.opted_out_at is not None


class ConversationSummarySerializer(serializers.ModelSerializer[Conversation]):
    unanswered = serializers.BooleanField(source="is_unanswered", read_only=True)
    blocked = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "status",
            "snoozed_until",
            "assignee",
            "team",
            "last_activity_at",
            "waiting_since",
            "unanswered",
            "blocked",
        ]

    def get_blocked(self, conversation: Conversation) -> bool:
        return conversation.blocked_at is not None


class StrictCharField(serializers.CharField):
    """A string field that refuses a number or a boolean where the document says string (DRF would coerce it)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class LabelSerializer(serializers.ModelSerializer[Label]):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]
        read_only_fields = ["id"]


class ContactSerializer(serializers.ModelSerializer[Contact]):
    identities = IdentitySerializer(many=True, read_only=True)
    conversation = ConversationSummarySerializer(read_only=True)
    display_name = serializers.CharField(read_only=True)
    stage = serializers.SerializerMethodField()
    labels = LabelSerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "display_name",
            "identities",
            "labels",
            "attributes",
            "conversation",
            "stage",
            "created_at",
        ]

    @extend_schema_field(
        {"type": "object", "nullable": True, "properties": {"key": {}, "name": {}, "entered_at": {}}}
    )
    def get_stage(self, contact: Contact) -> dict[str, Any] | None:
        """The lifecycle stage: key, name and since when (null before the first one)."""
        from lifecycle.api import contact_stage_data

        return contact_stage_data(contact)


class ContactUpdateSerializer(serializers.Serializer[Any]):
    """Only the fields sent change; `attributes` changes only the keys sent (null clears one)."""

    name = StrictCharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=True)
    attributes = serializers.DictField(
        required=False, child=serializers.JSONField(allow_null=True), help_text="key: value; null clears"
    )
    labels = serializers.ListField(
        required=False,
        child=serializers.CharField(max_length=10_000),  # an id may come as a number
        max_length=200,
        help_text="The whole set: label ids or names (existing labels; admins create them)",
    )


class AuthorSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "state", "url"]

    def get_url(self, attachment: Attachment) -> str | None:
        return f"/attachments/{attachment.pk}/" if attachment.state == Attachment.STORED else None


class EntrySerializer(serializers.ModelSerializer[Entry]):
    channel = serializers.SerializerMethodField()
    delivery_status = serializers.SerializerMethodField()
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Entry
        fields = [
            "id",
            "kind",
            "channel",
            "direction",
            "body",
            "subject",
            "created_at",
            "delivery_status",
            "status_reason",
            "author",
            "inbox",
            "event_type",
            "from_address",
            "to_address",
            "attachments",
            "version",
        ]

    def get_channel(self, entry: Entry) -> str | None:
        return entry.channel or None

    def get_delivery_status(self, entry: Entry) -> str | None:
        return entry.delivery_status or None

    def get_author(self, entry: Entry) -> dict[str, Any] | None:
        if entry.author_id is None:
            return None
        return {"id": entry.author_id, "name": entry.author_name}


class MessageCreateSerializer(serializers.Serializer[Any]):
    channel = serializers.ChoiceField(choices=["sms", "whatsapp", "email", "webchat"], required=False)
    body = serializers.CharField(max_length=20_000, trim_whitespace=True, required=False)
    inbox = serializers.IntegerField(required=False, min_value=1)
    template = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="An approved WhatsApp template's id (GET /api/v1/templates/): sent on WhatsApp instead of `body`, "
        "even outside the 24-hour window",
    )
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1024),
        required=False,
        default=dict,
        help_text='The template\'s placeholders, e.g. {"1": "Dana"}',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("template") and not attrs.get("body"):
            raise serializers.ValidationError({"body": "This field is required."})
        return attrs


class MessageTemplateSerializer(serializers.ModelSerializer[MessageTemplate]):
    placeholders = serializers.SerializerMethodField()

    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "language", "body", "placeholders", "whatsapp_status", "whatsapp_category"]
        fields += ["rejection_reason", "synced_at"]
        read_only_fields = fields

    def get_placeholders(self, template: MessageTemplate) -> list[str]:
        return template_placeholders(template)


class ContactMergeSerializer(serializers.Serializer[Any]):
    contact = serializers.IntegerField(min_value=1, help_text="The customer merged away into this one")


class InboxSerializer(serializers.ModelSerializer[Inbox]):
    widget_key = serializers.SerializerMethodField()
    identity_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Web chat: the key of the HMAC-SHA256 the host site signs user ids with (write-only)",
    )

    class Meta:
        model = Inbox
        fields = [
            "id",
            "kind",
            "name",
            "address",
            "team",
            "messaging_service_sid",
            "whatsapp_enabled",
            "is_default",
            "widget_key",
            "allowed_origins",
            "widget_greeting",
            "widget_color",
            "identity_secret",
            "identity_site",
            "time_zone",
            "business_hours",
            "holidays",
        ]
        read_only_fields = ["id", "kind", "is_default", "widget_key"]

    def get_widget_key(self, inbox: Inbox) -> str | None:
        return inbox.widget_key if inbox.kind == Inbox.WEBCHAT else None

    def update(self, instance: Inbox, validated_data: dict[str, Any]) -> Inbox:
        """A new identity secret through the API is a rotation too: the previous one verifies for a day."""
        from channels_adapters.webchat.settings import identity_secret_replace

        if "identity_secret" in validated_data:
            secret = validated_data.pop("identity_secret")
            if not secret:  # cleared: user ids are verified by no secret, the previous one included
                instance.identity_secret = instance.identity_secret_previous = ""
            elif secret != instance.identity_secret:
                identity_secret_replace(instance, secret)
        return super().update(instance, validated_data)

    def validate_allowed_origins(self, value: Any) -> list[str]:
        from channels_adapters.webchat.settings import origins_clean
        from config.errors import ValidationError

        try:
            return origins_clean(value)
        except ValidationError as error:
            raise serializers.ValidationError(error.message) from error

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from django.core.exceptions import ValidationError as ModelError

        inbox = Inbox(**{**{f: getattr(self.instance, f) for f in _CHECKED if self.instance}, **attrs})
        inbox.pk = self.instance.pk if self.instance else None
        try:
            inbox.clean()
        except ModelError as error:
            raise serializers.ValidationError(" ".join(error.messages)) from error
        return attrs


_CHECKED = (
    "kind",
    "allowed_origins",
    "widget_color",
    "widget_greeting",
    "identity_secret",
    "identity_site",
    "time_zone",
    "business_hours",
    "holidays",
)


class StatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=[c for c, _ in Conversation.STATUS_CHOICES])
    snoozed_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When a snoozed conversation wakes; required to snooze"
    )


class AssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="An agent's user id; null unassigns"
    )
    team = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="A team whose queue takes the conversation"
    )


class NoteSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=20_000, help_text="`@username` mentions notify that agent")


class BlockSerializer(serializers.Serializer[Any]):
    blocked = serializers.BooleanField()


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    text = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "conversation", "entry", "actor", "text", "created_at", "read_at"]

    def get_text(self, notification: Notification) -> str:
        from conversations.notifications import notification_text

        return notification_text(notification)


class NotificationsReadSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, help_text="Leave out to mark all read"
    )


class AvailabilitySerializer(serializers.Serializer[Any]):
    availability = serializers.ChoiceField(choices=[c for c, _ in AgentProfile.AVAILABILITY_CHOICES])


class SearchHitSerializer(serializers.Serializer[Any]):
    entry = EntrySerializer()
    conversation = serializers.IntegerField(source="entry.conversation_id")
    contact = serializers.IntegerField(source="entry.conversation.contact_id")
    contact_name = serializers.CharField(source="entry.conversation.contact.display_name")
    headline = serializers.CharField(
        help_text="HTML: the matched words in <mark>, everything else escaped text, safe to insert as is."
    )
    url = serializers.SerializerMethodField(help_text="The agent inbox, opened at this entry")

    def get_url(self, hit: Any) -> str:
        return f"/inbox/{hit.entry.conversation_id}/?entry={hit.entry.pk}"


class SearchPageSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    results = SearchHitSerializer(many=True, source="hits")
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older results")


class CannedResponseSerializer(serializers.ModelSerializer[CannedResponse]):
    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "title", "body"]


class BulkActionSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=500, min_length=1)
    action = serializers.ChoiceField(choices=["assign", "label", "resolve"])
    value = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text='assign: "me", an agent id, or "" for nobody; label: a label id',
    )


class BulkRefusalSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    reason = serializers.CharField()


class BulkResultSerializer(serializers.Serializer[Any]):
    done = serializers.ListField(child=serializers.IntegerField())
    refused = BulkRefusalSerializer(many=True)


class ConversationStartSerializer(serializers.Serializer[Any]):
    channel = serializers.ChoiceField(choices=["sms", "whatsapp", "email", "voice"])
    address = StrictCharField(max_length=320, help_text="A phone number in any common format, or an email")
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    body = StrictCharField(max_length=20_000, required=False, allow_blank=True)
    inbox = serializers.IntegerField(required=False, min_value=1)


class ConversationStartedSerializer(serializers.Serializer[Any]):
    conversation = serializers.IntegerField(source="conversation_id")
    contact = serializers.IntegerField(source="conversation.contact_id")
    entry = EntrySerializer(source="*")


class SavedViewSerializer(serializers.ModelSerializer[SavedView]):
    name = StrictCharField(max_length=10_000, help_text="At most 60 characters")
    filters = serializers.DictField(
        child=StrictCharField(allow_blank=True, max_length=100),
        required=False,
        help_text="view, status, inbox, team, channel, label (as the inbox's query string names them)",
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = ["id", "name", "filters", "url"]
        read_only_fields = ["id", "url"]

    def get_url(self, view: SavedView) -> str:
        from conversations.saved_views import saved_view_query

        return "/inbox/?" + saved_view_query(view)


class ContactEraseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=300,
        help_text="Why (the customer asked, a ticket number). The customer's name and addresses are taken out.",
    )


class ContactErasedSerializer(serializers.Serializer[Any]):
    contact = serializers.IntegerField()
    already = serializers.BooleanField(
        help_text="True when the customer had been erased before: nothing changed"
    )
    erased_at = serializers.DateTimeField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="What was removed, per kind")


class ContactExportSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    state = serializers.CharField(help_text="queued, running, done or failed")
    percent = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Entries and files written so far")
    total = serializers.IntegerField()
    error = serializers.CharField()
    download = serializers.CharField(help_text="The zip's URL once done; empty before")
