from __future__ import annotations

from django.urls import include, path

from config.auth import obtain_auth_token
from inbox.api import views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("contacts/", views.ContactList.as_view(), name="api-contacts"),
    path("contacts/<int:pk>/", views.ContactDetail.as_view(), name="api-contact"),
    path("contacts/<int:pk>/timeline/", views.ContactTimeline.as_view(), name="api-contact-timeline"),
    path("contacts/<int:pk>/messages/", views.ContactMessages.as_view(), name="api-contact-messages"),
    path("contacts/<int:pk>/merge/", views.ContactMerge.as_view(), name="api-contact-merge"),
    path("contacts/<int:pk>/erase/", views.ContactErase.as_view(), name="api-contact-erase"),
    path("contacts/<int:pk>/exports/", views.ContactExportCreate.as_view(), name="api-contact-exports"),
    path("contact-exports/<int:pk>/", views.ContactExportDetail.as_view(), name="api-contact-export"),
    path(
        "contact-exports/<int:pk>/download/",
        views.ContactExportDownload.as_view(),
        name="api-contact-export-download",
    ),
    path("entries/<int:pk>/redact/", views.EntryRedact.as_view(), name="api-entry-redact"),
    path("search/", views.Search.as_view(), name="api-search"),
    path("conversations/", views.ConversationStart.as_view(), name="api-conversations"),
    path("conversations/bulk/", views.ConversationBulk.as_view(), name="api-conversations-bulk"),
    path("labels/", views.LabelList.as_view(), name="api-labels"),
    path("templates/", views.TemplateList.as_view(), name="api-templates"),
    path("templates/sync/", views.TemplateSync.as_view(), name="api-templates-sync"),
    path("views/", views.SavedViewList.as_view(), name="api-saved-views"),
    path("canned-responses/", views.CannedResponseList.as_view(), name="api-canned-responses"),
    path("inboxes/", views.InboxList.as_view(), name="api-inboxes"),
    path("inboxes/<int:pk>/", views.InboxDetail.as_view(), name="api-inbox"),
    path(
        "conversations/<int:pk>/status/", views.ConversationStatus.as_view(), name="api-conversation-status"
    ),
    path(
        "conversations/<int:pk>/assign/", views.ConversationAssign.as_view(), name="api-conversation-assign"
    ),
    path("conversations/<int:pk>/notes/", views.ConversationNotes.as_view(), name="api-conversation-notes"),
    path("conversations/<int:pk>/block/", views.ConversationBlock.as_view(), name="api-conversation-block"),
    path("notifications/", views.NotificationList.as_view(), name="api-notifications"),
    path("notifications/read/", views.NotificationsRead.as_view(), name="api-notifications-read"),
    path("agents/me/availability/", views.AgentAvailability.as_view(), name="api-agent-availability"),
    path("agents/<int:pk>/deactivate/", views.AgentDeactivate.as_view(), name="api-agent-deactivate"),
    # Lifecycle stages, external events (touchpoints) and the funnel figures
    path("", include("lifecycle.api_urls")),
]
