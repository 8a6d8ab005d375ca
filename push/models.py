from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class VapidKey(models.Model):
    """The hub's one VAPID key pair (RFC 8292): made once, under a lock, shared by every web host and worker.

    Browsers tie each subscription to the public key it was made with, so the pair must never change
    behind their back: a new pair silently orphans every device."""

    private_pem = models.TextField()
    public_key = models.CharField(max_length=100)  # base64url, uncompressed P-256 point: applicationServerKey
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"VAPID key made {self.created_at:%Y-%m-%d}"


class PushSubscription(models.Model):
    """One agent's device (a browser's PushSubscription): where the push service takes its pushes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices")
    endpoint = models.URLField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    device = models.CharField(max_length=200, blank=True)  # what the agent sees on the profile page
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)  # in a row; reset by a success

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.device or 'device'} of {self.user_id}"


class PushPreference(models.Model):
    """What an agent allows in a push: the message's text only with previews on (a locked phone shows it)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_pref")
    previews = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"push preferences of {self.user_id}"
