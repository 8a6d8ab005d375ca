"""The doors that take a password, each behind its rate limit (config/throttling.py).

Failed attempts are counted wherever Django authenticates (the login form, the admin's, the API token
endpoint) through the `user_login_failed` signal. The login forms refuse to look at a password at all,
with a 429 page, while the address or the username has used up its failures; the token endpoint has
DRF throttles of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken

from config.throttling import TokenIPThrottle, TokenUsernameThrottle, login_failure_record, login_wait

View = Callable[..., HttpResponseBase]


def _too_many_attempts(request: HttpRequest, wait: float) -> HttpResponse:
    minutes = max(1, math.ceil(wait / 60))
    response = render(request, "registration/login_throttled.html", {"wait_minutes": minutes}, status=429)
    response["Retry-After"] = str(math.ceil(wait))
    return response


def login_throttled(view: View) -> View:
    """A login form view that answers 429, without processing the form, after too many failures."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            wait = login_wait(request, str(request.POST.get("username", "")))
            if wait is not None:
                return _too_many_attempts(request, wait)
        return view(request, *args, **kwargs)

    return wrapper


@receiver(user_login_failed, dispatch_uid="hub-login-failed-throttle")
def _count_failed_login(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    if request is not None:
        login_failure_record(request, str(credentials.get("username", "") or ""))


login_view = login_throttled(LoginView.as_view())


class TokenRequestSerializer(AuthTokenSerializer):
    # What the base serializer enforces (blank is refused), said where the OpenAPI document can show it.
    username = serializers.CharField(label="Username", write_only=True, min_length=1)
    password = serializers.CharField(
        label="Password",
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
        min_length=1,
    )


class ThrottledObtainAuthToken(ObtainAuthToken):
    throttle_classes = [TokenIPThrottle, TokenUsernameThrottle]
    serializer_class = TokenRequestSerializer


obtain_auth_token = ThrottledObtainAuthToken.as_view()
