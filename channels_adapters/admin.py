from __future__ import annotations

from django import forms
from django.contrib import admin

from channels_adapters.models import EmailMailbox, InboundEvent, TwilioAccount


class TwilioAccountForm(forms.ModelForm):  # type: ignore[type-arg]
    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave empty to keep the current token.",
    )

    class Meta:
        model = TwilioAccount
        fields = ["name", "account_sid", "auth_token", "is_sandbox"]

    def clean_auth_token(self) -> str:
        token = self.cleaned_data.get("auth_token", "")
        return token or (self.instance.auth_token if self.instance.pk else "")


@admin.register(TwilioAccount)
class TwilioAccountAdmin(admin.ModelAdmin[TwilioAccount]):
    form = TwilioAccountForm
    list_display = ["name", "account_sid", "is_sandbox"]


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin[InboundEvent]):
    list_display = ["id", "kind", "idempotency_key", "state", "attempts", "received_at", "processed_at"]
    list_filter = ["state", "kind"]
    search_fields = ["idempotency_key"]
    readonly_fields = ["payload", "last_error"]
    raw_id_fields = ["entry"]


class EmailMailboxForm(forms.ModelForm):  # type: ignore[type-arg]
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = EmailMailbox
        fields = [
            "inbox",
            "host",
            "port",
            "security",
            "username",
            "password",
            "folder",
            "delete_after_import",
            "enabled",
        ]

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        return password or (self.instance.password if self.instance.pk else "")


@admin.register(EmailMailbox)
class EmailMailboxAdmin(admin.ModelAdmin[EmailMailbox]):
    form = EmailMailboxForm
    list_display = ["__str__", "inbox", "enabled", "uidvalidity", "last_uid", "last_polled_at", "last_error"]
    readonly_fields = ["uidvalidity", "last_uid", "last_polled_at", "last_error"]
