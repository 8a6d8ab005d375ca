from __future__ import annotations

from django.urls import path

from webhooks import api

urlpatterns = [
    path("webhooks/", api.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", api.WebhookDetail.as_view(), name="api-webhook"),
    path("webhooks/<int:pk>/rotate-secret/", api.WebhookRotateSecret.as_view(), name="api-webhook-rotate"),
    path("webhooks/<int:pk>/deliveries/", api.WebhookDeliveries.as_view(), name="api-webhook-deliveries"),
    path(
        "webhook-deliveries/<int:pk>/redeliver/",
        api.WebhookRedeliver.as_view(),
        name="api-webhook-delivery-redeliver",
    ),
]
