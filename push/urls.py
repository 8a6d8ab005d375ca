from __future__ import annotations

from django.urls import path

from push import views

urlpatterns = [
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("offline/", views.offline, name="offline"),
    path("inbox/push/key/", views.public_key, name="push-key"),
    path("inbox/push/subscriptions/", views.subscriptions, name="push-subscriptions"),
    path("inbox/push/devices/<int:device_id>/remove/", views.device_remove, name="push-device-remove"),
    path("inbox/push/previews/", views.previews, name="push-previews"),
]
