from __future__ import annotations

from django.urls import path

from config.auth import obtain_auth_token
from conversations.api import views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("contacts/", views.ContactList.as_view(), name="api-contacts"),
    path("contacts/<int:pk>/", views.ContactDetail.as_view(), name="api-contact"),
    path("contacts/<int:pk>/timeline/", views.ContactTimeline.as_view(), name="api-contact-timeline"),
    path("contacts/<int:pk>/messages/", views.ContactMessages.as_view(), name="api-contact-messages"),
    path("contacts/<int:pk>/merge/", views.ContactMerge.as_view(), name="api-contact-merge"),
    path("inboxes/", views.InboxList.as_view(), name="api-inboxes"),
    path("inboxes/<int:pk>/", views.InboxDetail.as_view(), name="api-inbox"),
]
