"""What every agent page's top bar shows: the open leaks in the alerts tray."""

from __future__ import annotations

from django.http import HttpRequest

from conversations.selectors import agent_profile
from lifecycle.selectors import LeakAlert, leak_alerts_for


def leak_alerts(request: HttpRequest) -> dict[str, list[LeakAlert]]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or agent_profile(user) is None:
        return {}
    return {"leak_alerts": leak_alerts_for(user=user)}
