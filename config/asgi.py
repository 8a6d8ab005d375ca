from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from channels_adapters.webchat.consumers import WebchatConsumer  # noqa: E402
from config.websocket import SameOriginValidator, WebsocketRouter, WidgetOrAgent  # noqa: E402
from inbox.consumers import AgentConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
]
# The widget is embedded by other sites: its consumer checks the Origin against its inbox's allowed origins,
# and it never reads the hub's session.
widget_urlpatterns = [
    re_path(r"^ws/webchat/(?P<widget_key>[^/]*)/$", WebchatConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WidgetOrAgent(
            widget=WebsocketRouter(widget_urlpatterns),
            # The Origin must be the hub's own (cross-site websocket hijacking), and the session an agent's.
            agent=SameOriginValidator(AuthMiddlewareStack(WebsocketRouter(websocket_urlpatterns))),
        ),
    }
)

if settings.EMBEDDED_BEAT and os.environ.get("HUB_EMBEDDED_BEAT_STARTED") != "1":
    from config.embedded_beat import start_embedded_beat

    start_embedded_beat()
