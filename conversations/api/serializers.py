from __future__ import annotations

from typing import Any

from rest_framework import serializers

from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry, Inbox


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

    class Meta:
        model = Conversation
        fields = ["id", "status", "assignee", "team", "last_activity_at", "waiting_since", "unanswered"]


class ContactSerializer(serializers.ModelSerializer[Contact]):
    identities = IdentitySerializer(many=True, read_only=True)
    conversation = ConversationSummarySerializer(read_only=True)
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "display_name", "identities", "attributes", "conversation", "created_at"]


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
    body = serializers.CharField(max_length=20_000, trim_whitespace=True)
    inbox = serializers.IntegerField(required=False, min_value=1)


class ContactMergeSerializer(serializers.Serializer[Any]):
    contact = serializers.IntegerField(min_value=1, help_text="The customer merged away into this one")


class InboxSerializer(serializers.ModelSerializer[Inbox]):
    widget_key = serializers.SerializerMethodField()

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
        ]
        read_only_fields = ["id", "kind", "is_default", "widget_key"]

    def get_widget_key(self, inbox: Inbox) -> str | None:
        return None  # web chat inboxes arrive with the web chat issue
