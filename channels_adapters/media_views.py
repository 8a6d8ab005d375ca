"""`GET /media/outbound/<token>/<name>`: a file the hub sends, served to whoever holds its signed URL (Twilio
fetching an MMS or WhatsApp file, a web chat visitor opening one) until the URL expires."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from channels_adapters.outbound_files import media_url_verify
from config.file_check import filename_for

# Types a browser may show in place; anything else is a download with no type it would render.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/mpeg", "audio/ogg", "video/mp4")


@require_GET
def outbound_media(request: HttpRequest, token: str, name: str) -> FileResponse:
    data = media_url_verify(token)
    if data is None:
        raise Http404("This link has expired or is not valid.")
    content_type = str(data.get("t") or "application/octet-stream")
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        default_storage.open(str(data["p"]), "rb"),
        as_attachment=not inline,
        filename=filename_for(str(data.get("n") or "file"), content_type),
        # Twilio reads the type from this header: it is what the bytes were sniffed as, never a guess.
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    response["Referrer-Policy"] = "no-referrer"
    return response
