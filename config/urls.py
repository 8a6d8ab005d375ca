from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from channels_adapters import media_views
from channels_adapters.sms import views as sms_views
from channels_adapters.voice import views as voice_views
from channels_adapters.webchat import views as webchat_views
from config import health
from config.auth import login_throttled, login_view
from inbox import contacts as contacts_views
from inbox import settings_pages
from inbox import views as inbox_views
from rules import views as rules_views
from sequences import views as sequences_views
from webhooks import views as webhook_views

urlpatterns = [
    path("", RedirectView.as_view(url="/inbox/", permanent=False)),
    path("healthz", health.healthz),
    path("healthz/jobs", health.healthz_jobs),
    path("readyz", health.readyz),
    path("widget.js", webchat_views.widget_js, name="widget-js"),
    path("webchat/uploads/", webchat_views.widget_upload, name="widget-upload"),
    path("webchat/available/", webchat_views.widget_available, name="widget-available"),
    # The installable app (manifest, service worker, offline page) and Web Push devices
    path("", include("push.urls")),
    path("accounts/login/", login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin's own login form takes passwords too: the same limits (before admin.site.urls claims it).
    path("admin/login/", login_throttled(admin.site.login)),
    path("admin/", admin.site.urls),
    # The agents' inbox
    path("inbox/", inbox_views.inbox_page, name="inbox"),
    path("inbox/rows/", inbox_views.conversation_rows, name="inbox-rows"),
    path("inbox/counts/", inbox_views.view_counts, name="inbox-counts"),
    path("inbox/views/", inbox_views.saved_views, name="inbox-saved-views"),
    path("inbox/bulk/", inbox_views.bulk, name="inbox-bulk"),
    path("inbox/new/", inbox_views.conversation_new, name="inbox-new"),
    path("inbox/contacts/import/", inbox_views.contact_imports, name="inbox-contact-imports"),
    path(
        "inbox/contacts/import/<int:import_id>/",
        inbox_views.contact_import_progress,
        name="inbox-contact-import",
    ),
    path("inbox/settings/", inbox_views.inbox_settings, name="inbox-settings"),
    path("inbox/settings/webhooks/", webhook_views.webhooks_page, name="inbox-settings-webhooks"),
    path("inbox/settings/rules/", rules_views.rules_page, name="inbox-settings-rules"),
    path("inbox/settings/sequences/", sequences_views.sequences_page, name="inbox-settings-sequences"),
    path(
        "inbox/<int:conversation_id>/sequences/",
        sequences_views.contact_sequences,
        name="inbox-contact-sequences",
    ),
    path("inbox/settings/labels/", settings_pages.labels_page, name="inbox-settings-labels"),
    path("inbox/settings/hours/", settings_pages.hours_index, name="inbox-settings-hours-index"),
    path("inbox/settings/<int:inbox_id>/hours/", settings_pages.hours_page, name="inbox-settings-hours"),
    path(
        "inbox/settings/<int:inbox_id>/secret/reveal/",
        settings_pages.secret_reveal,
        name="inbox-secret-reveal",
    ),
    path(
        "inbox/settings/<int:inbox_id>/secret/rotate/",
        settings_pages.secret_rotate,
        name="inbox-secret-rotate",
    ),
    path(
        "inbox/settings/<int:inbox_id>/origins/allow/",
        settings_pages.origin_allow,
        name="inbox-origin-allow",
    ),
    path("inbox/sandbox/", inbox_views.sandbox, name="inbox-sandbox"),
    path("inbox/search/", inbox_views.search_page, name="inbox-search"),
    path("inbox/canned/", inbox_views.canned_page, name="inbox-canned"),
    path("inbox/<int:conversation_id>/", inbox_views.inbox_page, name="inbox-conversation"),
    path("inbox/<int:conversation_id>/entries/", inbox_views.entries_older, name="inbox-entries"),
    path("inbox/<int:conversation_id>/reply/", inbox_views.reply, name="inbox-reply"),
    path("inbox/<int:conversation_id>/status/", inbox_views.set_status, name="inbox-status"),
    path("inbox/<int:conversation_id>/priority/", inbox_views.set_priority, name="inbox-priority"),
    path("inbox/macros/<int:macro_id>/apply/", inbox_views.macro_apply_view, name="inbox-macro-apply"),
    path("inbox/<int:conversation_id>/assign/", inbox_views.assign, name="inbox-assign"),
    path("inbox/<int:conversation_id>/call/", inbox_views.call_back, name="inbox-call"),
    path("inbox/profile/", inbox_views.profile, name="inbox-profile"),
    path("inbox/entries/<int:entry_id>/retry/", inbox_views.retry_entry, name="inbox-entry-retry"),
    path("inbox/entries/<int:entry_id>/redact/", inbox_views.redact_entry, name="inbox-entry-redact"),
    path("inbox/entries/<int:entry_id>/identity/", inbox_views.identity_accept, name="inbox-entry-identity"),
    path("inbox/<int:conversation_id>/merge/", inbox_views.merge, name="inbox-merge"),
    path("inbox/<int:conversation_id>/erase/", inbox_views.contact_erase_ui, name="inbox-contact-erase"),
    path("inbox/<int:conversation_id>/export/", inbox_views.contact_export_ui, name="inbox-contact-export"),
    path(
        "inbox/contact-exports/<int:contact_export_id>/",
        inbox_views.contact_export_page,
        name="inbox-contact-export-page",
    ),
    path("inbox/<int:conversation_id>/block/", inbox_views.block, name="inbox-block"),
    path("inbox/notifications/", inbox_views.notifications, name="inbox-notifications"),
    path("inbox/notifications/read/", inbox_views.notifications_read, name="inbox-notifications-read"),
    path("inbox/agents/", inbox_views.agents_page, name="inbox-agents"),
    path("inbox/agents/<int:user_id>/active/", inbox_views.agent_active, name="inbox-agent-active"),
    # The Contacts page: every customer the agent may see
    path("contacts/", contacts_views.contacts_page, name="contacts"),
    path("contacts/export.csv", contacts_views.contacts_export, name="contacts-export"),
    path("contacts/new/", contacts_views.contact_new, name="contact-new"),
    path("contacts/<int:contact_id>/", contacts_views.contact_edit, name="contact"),
    # Reports (the funnel and its leaks) and the thread header's stage control
    path("", include("lifecycle.urls")),
    # Managers' reports (performance, history, audit, exports) and the agents' follow-ups
    path("reports/", include("reports.urls")),
    path("inbox/<int:conversation_id>/contact/", inbox_views.contact_panel_view, name="inbox-contact"),
    path("inbox/<int:conversation_id>/canned/", inbox_views.canned_picker, name="inbox-canned-picker"),
    path("attachments/<int:attachment_id>/", inbox_views.attachment_download, name="attachment"),
    # Files the hub sends, at signed expiring URLs Twilio and web chat visitors fetch
    path("media/outbound/<str:token>/<str:name>", media_views.outbound_media, name="outbound-media"),
    # Providers
    path("webhooks/twilio/messaging/", sms_views.messaging_inbound, name="twilio-messaging"),
    path("webhooks/twilio/messaging/status/", sms_views.messaging_status, name="twilio-messaging-status"),
    path("webhooks/twilio/voice/", voice_views.voice_incoming, name="twilio-voice"),
    path("webhooks/twilio/voice/status/", voice_views.voice_status, name="twilio-voice-status"),
    path("webhooks/twilio/voice/dial/", voice_views.voice_dial, name="twilio-voice-dial"),
    path("webhooks/twilio/voice/recording/", voice_views.voice_recording, name="twilio-voice-recording"),
    path(
        "webhooks/twilio/voice/transcription/",
        voice_views.voice_transcription,
        name="twilio-voice-transcription",
    ),
    path("webhooks/twilio/voice/bridge/", voice_views.voice_bridge, name="twilio-voice-bridge"),
    # Email through django-anymail: /anymail/<esp>/inbound/ and /anymail/<esp>/tracking/
    path("anymail/", include("anymail.urls")),
    # REST API
    path("api/v1/", include("inbox.api.urls")),
    path("api/v1/reports/", include("reports.api")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("rules.urls")),
    path("api/v1/", include("sequences.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "conversations.api.errors.page_not_found"
