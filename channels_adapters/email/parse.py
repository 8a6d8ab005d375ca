"""Raw RFC 5322 bytes -> what the hub needs of an email. Never raises on bad input: it keeps what it can.

Python's email package does the MIME work; everything it hands back is treated as hostile (unknown or lying
charsets, 8-bit headers, NUL bytes, broken structure, 500-id References, oversized parts).
"""

from __future__ import annotations

import contextlib
import email
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

MAX_REFERENCES = 50  # kept: the first (the thread's root) and the newest 49
MAX_SCANNED_REFERENCES = 200  # looked up when threading; a 500-id header costs no more than this
MAX_PARTS = 200
MAX_DEPTH = 12
MAX_TEXT = 200_000

_MSGID = re.compile(r"<([^<>\s]{1,998})>")
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|out of (the )?office|autoreply|abwesenheitsnotiz|"
    r"réponse automatique|respuesta automática)\b",
    re.IGNORECASE,
)
_QUOTE_STARTS = (
    re.compile(r"^On .{1,300}wrote:\s*$", re.MULTILINE),
    re.compile(r"^Le .{1,300}a écrit\s*:\s*$", re.MULTILINE),
    re.compile(r"^Am .{1,300}schrieb .{1,200}:\s*$", re.MULTILINE),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.MULTILINE | re.IGNORECASE),
    re.compile(r"^_{10,}\s*\n\s*From: ", re.MULTILINE),
    re.compile(r"^From: .+\n(Sent|Date): .+\n", re.MULTILINE),
    re.compile(r"^-- ?$", re.MULTILINE),  # the signature delimiter
    re.compile(r"^Sent from my (iPhone|iPad|Android|mobile)", re.MULTILINE | re.IGNORECASE),
    re.compile(r"^(>.*\n?){2,}\Z", re.MULTILINE),
)


@dataclass
class ParsedAttachment:
    filename: str
    declared_content_type: str
    content: bytes | None  # None when refused (over the size limit)
    size: int
    content_id: str = ""
    inline: bool = False
    refused: str = ""


@dataclass
class Bounce:
    original_message_ids: list[str] = field(default_factory=list)
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    recipient: str = ""


@dataclass
class ParsedEmail:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    from_header: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    reply_to: str = ""
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    auto: str = ""  # "", "auto_reply", "bounce", "list"
    bounce: Bounce | None = None
    defects: list[str] = field(default_factory=list)

    @property
    def threading_ids(self) -> list[str]:
        """In-Reply-To first, then References newest first, capped."""
        ids = [*self.in_reply_to, *reversed(self.references)]
        return list(dict.fromkeys(ids))[:MAX_SCANNED_REFERENCES]


def clean_text(value: str) -> str:
    """Text safe to store: no NUL (PostgreSQL refuses it), no lone surrogates (8-bit bytes read as ASCII)."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("cp1252", "replace")
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "")


def digest(value: bytes | str) -> str:
    return hashlib.sha256(value if isinstance(value, bytes) else value.encode("utf-8", "replace")).hexdigest()


def message_id_normalize(value: str) -> str:
    """`<abc@host>` and ` abc@host ` are one id; case kept (the local part is case-sensitive)."""
    found = _MSGID.search(value or "")
    text = found.group(1) if found else (value or "").strip().strip("<>").strip()
    return clean_text(text)[:998] if text and " " not in text else ""


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back when it is unknown or lies."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return _lines(clean_text(data.decode(candidate)))
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return _lines(clean_text(data.decode("cp1252", "replace")))


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    return _header_text(value)


def _header_text(value: object) -> str:
    """A header's text: encoded words decoded, raw 8-bit bytes read as UTF-8 (else Windows-1252)."""
    try:
        if isinstance(value, Header):
            chunks: list[tuple[bytes | str, str | None]] = decode_header(value)
        else:
            text = str(value)
            chunks = decode_header(text) if "=?" in text else [(text, None)]
    except Exception:
        chunks = [(str(value), None)]
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, None if not charset or charset == "unknown-8bit" else charset))
        else:
            out.append(clean_text(chunk))
    joined = "".join(out) if len(out) > 1 else (out[0] if out else "")
    return clean_text(" ".join(joined.split()))


def _headers_all(message: Message, name: str) -> list[str]:
    try:
        values = message.get_all(name) or []
    except Exception:
        return []
    return [_header_text(v) for v in values]


def _addresses(values: list[str]) -> list[str]:
    found: list[str] = []
    try:
        pairs = getaddresses(values)
    except Exception:
        return found
    for _, address in pairs:
        address = clean_text(address).strip().lower()
        if "@" in address and address not in found and len(address) <= 320:
            found.append(address)
    return found[:100]


def _ids(header: str) -> list[str]:
    return [m for m in (message_id_normalize(f"<{v}>") for v in _MSGID.findall(header)) if m]


def parse_email(raw: bytes, *, attachment_max_bytes: int) -> ParsedEmail:
    parsed = ParsedEmail()
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as error:  # pragma: no cover - compat32 parses anything, but never trust that
        parsed.defects.append(f"unparseable: {error.__class__.__name__}")
        parsed.text = decode_bytes(raw[:MAX_TEXT], "utf-8")
        return parsed

    parsed.message_id = message_id_normalize(_header(message, "Message-ID"))
    parsed.in_reply_to = [
        m for m in (message_id_normalize(v) for v in _MSGID.findall(_header(message, "In-Reply-To"))) if m
    ][:5]
    refs = [
        m
        for m in (message_id_normalize(f"<{v}>") for v in _MSGID.findall(_header(message, "References")))
        if m
    ]
    parsed.references = refs if len(refs) <= MAX_REFERENCES else [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    parsed.subject = _header(message, "Subject")[:500]
    from_header = _header(message, "From")
    parsed.from_header = from_header[:998]
    try:
        name, address = parseaddr(from_header)
    except Exception:
        name, address = "", ""
    address = clean_text(address).strip()
    if "@" not in address:
        address = ""
    parsed.from_address = address.lower()[:320]
    parsed.from_name = clean_text(name).strip().strip('"')[:200]
    parsed.to = _addresses(_headers_all(message, "To"))
    parsed.cc = _addresses(_headers_all(message, "Cc"))
    parsed.delivered_to = _addresses(
        [*_headers_all(message, "Delivered-To"), *_headers_all(message, "X-Original-To")]
    )
    parsed.reply_to = next(iter(_addresses(_headers_all(message, "Reply-To"))), "")

    state = {"parts": 0}
    try:
        _walk(message, parsed, attachment_max_bytes, depth=0, state=state)
    except Exception as error:
        parsed.defects.append(f"structure: {error.__class__.__name__}")
    for defect in getattr(message, "defects", []) or []:
        parsed.defects.append(defect.__class__.__name__)
    if not parsed.text and not parsed.html and message.is_multipart() and parsed.defects:
        # A broken structure: show the body as it came rather than nothing.
        body = raw.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[-1]
        parsed.text = decode_bytes(body[:MAX_TEXT], "utf-8")
    parsed.text = parsed.text.strip("\n")[:MAX_TEXT]
    parsed.auto = _classify(message, parsed)
    return parsed


def _walk(part: Message, parsed: ParsedEmail, limit: int, *, depth: int, state: dict[str, int]) -> None:
    state["parts"] += 1
    if depth > MAX_DEPTH or state["parts"] > MAX_PARTS:
        parsed.defects.append("too deep or too many parts")
        return
    ctype = (part.get_content_type() or "text/plain").lower()
    disposition = (_header(part, "Content-Disposition").split(";")[0] or "").strip().lower()
    filename = _filename(part)

    if ctype == "message/delivery-status":
        _delivery_status(part, parsed)
        return
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        embedded = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(embedded, Message):
            original = message_id_normalize(_header(embedded, "Message-ID"))
            if original:
                parsed.bounce = parsed.bounce or Bounce()
                parsed.bounce.original_message_ids.append(original)
            data = _as_bytes(embedded)
            _attach(parsed, filename or "forwarded-message.eml", ctype, data, len(data), limit, part)
        return
    if ctype == "text/rfc822-headers":
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            headers = email.message_from_bytes(payload, policy=policy.compat32)
            original = message_id_normalize(_header(headers, "Message-ID"))
            if original:
                parsed.bounce = parsed.bounce or Bounce()
                parsed.bounce.original_message_ids.append(original)
        return
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        for child in children:
            if isinstance(child, Message):
                try:
                    _walk(child, parsed, limit, depth=depth + 1, state=state)
                except Exception as error:
                    parsed.defects.append(f"part: {error.__class__.__name__}")
        return

    is_attachment = disposition == "attachment" or (
        bool(filename) and ctype not in ("text/plain", "text/html")
    )
    if ctype.startswith("multipart/"):
        # Declared multipart but no usable structure (no boundary): keep the text as it came.
        payload = part.get_payload(decode=False)
        if isinstance(payload, str) and not parsed.text:
            parsed.text = clean_text(payload)[:MAX_TEXT]
        parsed.defects.append("multipart without parts")
        return
    if not is_attachment and ctype in ("text/plain", "text/html") and disposition != "attachment":
        decoded = part.get_payload(decode=True)
        if not isinstance(decoded, bytes):
            return
        text = decode_bytes(decoded[: MAX_TEXT * 4], part.get_content_charset())
        if ctype == "text/plain":
            parsed.text = f"{parsed.text}\n{text}" if parsed.text else text
        elif not parsed.html:
            parsed.html = text
        return
    # An attachment, or an inline image (cid:).
    estimated = _estimated_size(part)
    if estimated > limit * 1.05:
        _attach(parsed, filename, ctype, None, estimated, limit, part)
        return
    content = part.get_payload(decode=True)
    data = content if isinstance(content, bytes) else b""
    _attach(parsed, filename, ctype, data, len(data), limit, part)


def _attach(
    parsed: ParsedEmail,
    filename: str,
    ctype: str,
    data: bytes | None,
    size: int,
    limit: int,
    part: Message,
) -> None:
    content_id = message_id_normalize(_header(part, "Content-ID")) or _header(part, "Content-ID").strip("<> ")
    refused = ""
    if data is None or size > limit:
        refused = f"Not kept: {size / 1_048_576:.1f} MB is over the {limit / 1_048_576:.0f} MB limit."
        data = None
    parsed.attachments.append(
        ParsedAttachment(
            filename=(filename or f"attachment-{len(parsed.attachments) + 1}")[:255],
            declared_content_type=ctype[:255],
            content=data,
            size=size,
            content_id=content_id[:255],
            inline=_header(part, "Content-Disposition").lower().startswith("inline") or bool(content_id),
            refused=refused,
        )
    )


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        return ""
    if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
        try:
            name = email.utils.collapse_rfc2231_value(name)
        except Exception:
            name = str(name[-1])
    text = str(name)
    if "=?" in text:
        with contextlib.suppress(Exception):
            text = str(make_header(decode_header(text)))
    text = clean_text(text).replace("/", "_").replace("\\", "_").strip()
    return "".join(ch for ch in text if ch.isprintable())[:255]


def _estimated_size(part: Message) -> int:
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        return 0
    encoding = _header(part, "Content-Transfer-Encoding").lower()
    return len(payload) * 3 // 4 if encoding == "base64" else len(payload)


def _as_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=policy.compat32)
    except Exception:
        try:
            return message.as_string().encode("utf-8", "surrogateescape")
        except Exception:
            return b""


def _delivery_status(part: Message, parsed: ParsedEmail) -> None:
    parsed.bounce = parsed.bounce or Bounce()
    blocks = part.get_payload()
    fields: list[tuple[str, str]] = []
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, Message):
                fields.extend((str(k), str(v)) for k, v in block.items())
    elif isinstance(blocks, str):
        fields.extend(tuple(line.partition(":")[::2]) for line in blocks.splitlines())  # type: ignore[misc]
    for raw_key, raw_value in fields:
        key, value = raw_key.strip().lower(), clean_text(" ".join(raw_value.split()))
        if key == "status" and not parsed.bounce.status:
            parsed.bounce.status = value[:32]
        elif key == "action" and not parsed.bounce.action:
            parsed.bounce.action = value.lower()[:32]
        elif key == "diagnostic-code" and not parsed.bounce.diagnostic:
            parsed.bounce.diagnostic = value[:500]
        elif key in ("final-recipient", "original-recipient") and not parsed.bounce.recipient:
            parsed.bounce.recipient = value.rpartition(";")[2].strip().lower()[:320]


def _classify(message: Message, parsed: ParsedEmail) -> str:
    """Machine-sent mail: recorded, but it never reopens a thread nor gets an automatic answer."""
    ctype = (message.get_content_type() or "").lower()
    report_type = str(message.get_param("report-type") or "").lower()
    sender_local = parsed.from_address.partition("@")[0]
    if (ctype == "multipart/report" and report_type in ("delivery-status", "")) or (
        sender_local in ("mailer-daemon", "postmaster") and parsed.bounce is not None
    ):
        return "bounce"
    if ctype == "multipart/report":
        return "auto_reply"  # read receipts and other reports
    auto_submitted = _header(message, "Auto-Submitted").lower()
    precedence = _header(message, "Precedence").lower()
    if (
        (auto_submitted and auto_submitted != "no")
        or _header(message, "X-Autoreply")
        or _header(message, "X-Autorespond")
        or _header(message, "X-Auto-Reply")
        or precedence == "auto_reply"
        or _AUTO_SUBJECT.match(parsed.subject)
    ):
        return "auto_reply"
    if (
        precedence in ("bulk", "list", "junk")
        or _header(message, "List-Id")
        or _header(message, "List-Unsubscribe")
    ):
        return "list"
    if sender_local in ("mailer-daemon", "postmaster"):
        return "bounce"
    return ""


def quote_start(text: str) -> int | None:
    """Where quoted history or the signature begins in a plain-text body (None: nothing to collapse)."""
    best: int | None = None
    for pattern in _QUOTE_STARTS:
        found = pattern.search(text)
        if found and found.start() > 0 and (best is None or found.start() < best):
            best = found.start()
    return best
