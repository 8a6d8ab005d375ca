"""Raw RFC 5322 bytes -> what the hub needs of an email. Never raises on bad input: it keeps what it can.

Everything is treated as hostile (unknown or lying charsets, 8-bit headers, NUL bytes, broken structure,
500-id References, oversized parts), and one message costs bounded time and memory whatever it holds. So the
MIME structure is not handed to the standard library's feed parser, whose cost grows with lines times depth
(a 40 MB body of short lines took 37 s, 1,000 nested levels 13 s): `_Reader` finds the parts' boundaries
with byte searches, up to MAX_DEPTH levels and MAX_PARTS parts, and gives the standard library only header
blocks it has cut to size. A part beyond a limit is left unread, the message says so (`ParsedEmail.limits`),
and the raw message is kept whole beside the entry.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import email
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email import errors, policy
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

MAX_REFERENCES = 50  # kept: the first (the thread's root) and the newest 49
MAX_SCANNED_REFERENCES = 200  # looked up when threading; a 500-id header costs no more than this
MAX_PARTS = 200
MAX_DEPTH = 12
MAX_TEXT = 200_000
# Hostile input. Each bound keeps a class of message under the 5 s / 300 MB the hub allows one message.
MAX_HEADER_BYTES = 256 * 1024  # the message's header block read in full; past it only the fields read below
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 500
MAX_PART_HEADER_FIELDS = 100
MAX_FIELD = 32 * 1024  # one field; its start and its end are kept (References: the root and the newest ids)
MAX_MIME_FIELD = 4 * 1024  # Content-*: the standard library parses their parameters in quadratic time
MAX_ADDRESS_TEXT = 32 * 1024  # of all To (or Cc...) fields together
MAX_BOUNDARY_LINES = 5_000  # lines that start like a boundary, looked at over the whole message
MAX_HTML_DEPTH = 400  # nested elements; nh3's time grows with the square of the depth (20,000 divs: 3.4 s)
UNSAFE_CHARSETS = frozenset({"punycode", "idna"})  # quadratic decoders (400 KB of punycode: 12 s), not mail

LIMIT_HEADER = "Its header was too large: only its start and the fields the hub reads were kept."
LIMIT_DEPTH = f"It is nested more than {MAX_DEPTH} levels deep: the deeper parts were not read."
LIMIT_PARTS = f"It has more than {MAX_PARTS} parts: only the first {MAX_PARTS} were read."
LIMIT_BOUNDARIES = (
    "It has too many lines that look like part boundaries: the rest of its parts were not read."
)
LIMIT_HTML = f"Its HTML is nested more than {MAX_HTML_DEPTH} levels deep: it is shown up to that point."

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
    date: str = ""  # the Date header as a UTC timestamp when it can be read
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
    limits: list[str] = field(default_factory=list)  # what was left unread, in words an agent can read

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
    """Decode with the declared charset, falling back when it is unknown, unsafe or lies (never raises)."""
    for candidate in (charset, "utf-8"):
        if not candidate or _unsafe_charset(candidate):
            continue
        try:
            return _lines(clean_text(data.decode(candidate)))
        except (LookupError, UnicodeError, ValueError):
            continue
    return _lines(clean_text(data.decode("cp1252", "replace")))


def _unsafe_charset(name: str) -> bool:
    try:
        return codecs.lookup(name).name in UNSAFE_CHARSETS
    except LookupError:
        return False  # unknown: decoding it fails at once and the next candidate is tried
    except Exception:
        return True


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
    kept: list[str] = []
    room = MAX_ADDRESS_TEXT
    for value in values:  # the address parser is slow on hostile text: a bounded amount of it
        if room <= 0:
            break
        kept.append(value[:room])
        room -= len(kept[-1])
    try:
        pairs = getaddresses(kept)
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
    reader = _Reader(raw)
    try:
        message = reader.message(0, len(raw), depth=0)
    except Exception as error:  # the reader is written never to raise; never trust that
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
    parsed.date = _date(_header(message, "Date"))
    from_header = _header(message, "From")
    parsed.from_header = from_header[:998]
    try:
        name, address = parseaddr(from_header[:MAX_ADDRESS_TEXT])
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
        parsed.text = decode_bytes(_body(message)[:MAX_TEXT], "utf-8")
    parsed.text = parsed.text.strip("\n")[:MAX_TEXT]
    parsed.auto = _classify(message, parsed)
    parsed.limits = [*reader.limits, *(n for n in parsed.limits if n not in reader.limits)]
    return parsed


def message_fingerprint(parsed: ParsedEmail) -> str:
    """What makes two deliveries one message whichever way they came: sender, date, subject, words, files.

    The pipe, IMAP and an ESP's webhook hand over different bytes for one message (line endings, transfer
    encodings, added headers; a parsed webhook is rebuilt from fields), so this reads what they agree on:
    the sender's address, the Date as a UTC instant, the subject, the words (of the HTML when there is one,
    since an ESP may write its own text version of an HTML-only message) with every run of whitespace made
    one space, and the digest of each attached file (whitespace-insensitive for text and forwarded mail).
    """
    words = parsed.text
    if parsed.html.strip():
        from channels_adapters.email.sanitize import html_to_text  # nh3: loaded only when there is HTML

        words = html_to_text(parsed.html)
    files = sorted(
        f"refused:{a.filename}"
        if a.content is None
        else digest(
            b" ".join(a.content.split())
            if a.declared_content_type.startswith(("text/", "message/"))
            else a.content
        )
        for a in parsed.attachments
    )
    basis = [
        parsed.from_address,
        parsed.date,
        " ".join(parsed.subject.split()),
        " ".join(unicodedata.normalize("NFC", words).split()),
        files,
    ]
    return digest(json.dumps(basis, ensure_ascii=False))


def message_key(*, message_id: str, fingerprint: str, raw: bytes) -> str:
    """An inbound email's idempotency key: its Message-ID *and* its fingerprint, since ids are reused and
    forged. A message with no Message-ID is keyed on its bytes."""
    if message_id:
        return f"email:{digest(message_id)}:{fingerprint}"
    return f"email:raw:{digest(raw)}"


def _date(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        return ""
    try:
        # "-07:00" (as some ESPs write it) is read as "-0700", not as no zone at all.
        when = parsedate_to_datetime(re.sub(r"([+-]\d\d):(\d\d)$", r"\1\2", text))
    except Exception:
        return text[:200]
    return (when.astimezone(UTC) if when.tzinfo else when).isoformat()


# --- the bounded MIME reader -------------------------------------------------------------------------
class _Part(Message):
    """A message or part whose body stays in the raw bytes (`raw[span]`): nothing is copied until read."""

    raw: bytes = b""
    span: tuple[int, int] = (0, 0)


# Line ends are \n, \r\n, or \r\r\n as some Windows programs write them.
_FIELD_SEP = re.compile(rb"\r*\n(?![ \t])")  # ends a header field (a newline not followed by a fold)
_FOLD = re.compile(rb"\r*\n(?=[ \t])")
_BLANK_LINE = re.compile(rb"\n\r*\n")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]*:")  # as the standard library's parser has it
_WANTED = re.compile(
    rb"\n(?:from|to|cc|subject|date|message-id|in-reply-to|references|reply-to|delivered-to|x-original-to|"
    rb"mime-version|content-type|content-transfer-encoding|content-disposition|content-id|auto-submitted|"
    rb"precedence|list-id|list-unsubscribe|x-autoreply|x-autorespond|x-auto-reply)[ \t]*:",
    re.IGNORECASE,
)
_MAX_WANTED = 50
_LINE_TAIL = re.compile(rb"[ \t]*\r*(?:\n|\Z)")  # what may follow a boundary on its line


class _Reader:
    """Splits a raw message into a tree of compat32 messages in time and memory bounded by its size."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.parts = 0
        self.boundary_lines = 0
        self.limits: list[str] = []

    def limit(self, note: str) -> None:
        if note not in self.limits:
            self.limits.append(note)

    def message(self, start: int, stop: int, *, depth: int, default_type: str = "text/plain") -> _Part:
        head, body, separated = self._head(start, stop, top=depth == 0)
        try:
            parsed = BytesHeaderParser(_class=_Part, policy=policy.compat32).parsebytes(head)
        except Exception:
            parsed = _Part(policy.compat32)
            parsed.defects.append(errors.InvalidHeaderDefect("unreadable header"))
        part = parsed if isinstance(parsed, _Part) else _Part(policy.compat32)
        part.set_default_type(default_type)
        part.set_payload("")
        part.raw, part.span = self.raw, (body, stop)
        if not separated:
            part.defects.append(errors.MissingHeaderBodySeparatorDefect())
        if part.get_content_maintype() == "multipart":
            self._multipart(part, depth)
        elif (
            part.get_content_maintype() == "message"
            and part.get_content_type() != "message/delivery-status"
            and _transfer_encoding(part) in ("", "7bit", "8bit", "binary")
        ):
            if depth >= MAX_DEPTH:
                self.limit(LIMIT_DEPTH)
            elif self.parts >= MAX_PARTS:
                self.limit(LIMIT_PARTS)
            else:
                self.parts += 1
                part.set_payload([self.message(body, stop, depth=depth + 1)])
        return part

    def _head(self, start: int, stop: int, *, top: bool) -> tuple[bytes, int, bool]:
        """The header block, cut to size and unfolded; where the body starts; whether a blank line did."""
        raw = self.raw
        if raw.startswith(b"\n", start, stop):
            return b"", start + 1, True
        if raw.startswith(b"\r\n", start, stop):
            return b"", start + 2, True
        window = MAX_HEADER_BYTES if top else MAX_PART_HEADER_BYTES
        most = MAX_HEADER_FIELDS if top else MAX_PART_HEADER_FIELDS
        end, body = _blank_line(raw, start, stop, window)
        horizon = min(end, start + window)
        fields: list[bytes] = []
        rest = start  # the first byte not read as part of a field
        for n, (a, b, after) in enumerate(_fields(raw, start, horizon)):
            if n == 0 and (raw.startswith(b"From ", a, b) or raw.startswith((b" ", b"\t"), a, b)):
                rest = after
                continue  # an mbox separator line, or a fold with nothing to continue: skipped, as before
            if not _FIELD_NAME.match(raw, a, b):
                # Not a header field: the body starts here, as the standard library would have it.
                return _head_bytes(fields), a, False
            if len(fields) >= most:
                break
            if b == horizon < end:  # the field runs past the window: take all of it, cut to size
                b, after = _field_end(raw, a, end)
            fields.append(_field(raw, a, b))
            rest = after
        if rest < end:
            self.limit(LIMIT_HEADER)
            for found in _WANTED.finditer(raw, max(start, rest - 1), end):
                if len(fields) >= most + _MAX_WANTED:
                    break
                a = found.start() + 1
                fields.append(_field(raw, a, _field_end(raw, a, end)[0]))
        return _head_bytes(fields), body, True

    def _multipart(self, part: _Part, depth: int) -> None:
        start, stop = part.span
        boundary = part.get_boundary()
        if not boundary:
            part.defects.append(errors.NoBoundaryInMultipartDefect())
            return
        if depth >= MAX_DEPTH:
            self.limit(LIMIT_DEPTH)
            return
        delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
        child_type = "message/rfc822" if part.get_content_type() == "multipart/digest" else "text/plain"
        children: list[Message | str] = []
        at: int | None = None  # where the current child starts
        opened = closed = full = False
        for line_start, line_end, close in self._delimiters(start, stop, delimiter):
            if at is not None:
                end = max(at, line_start - 1)  # the newline before a boundary belongs to the boundary
                for _ in range(2):  # \r\n or \r\r\n
                    if end > at and self.raw[end - 1 : end] == b"\r":
                        end -= 1
                if self.parts >= MAX_PARTS:
                    full = True
                    self.limit(LIMIT_PARTS)
                    break
                self.parts += 1
                children.append(self.message(at, end, depth=depth + 1, default_type=child_type))
            opened = True
            if close:
                closed = True
                break
            at = line_end
        if not opened:
            part.defects.append(errors.StartBoundaryNotFoundDefect())
            return
        if not closed and not full and at is not None:
            part.defects.append(errors.CloseBoundaryNotFoundDefect())
            if self.parts < MAX_PARTS:
                self.parts += 1
                children.append(self.message(at, stop, depth=depth + 1, default_type=child_type))
        part.set_payload(children)

    def _delimiters(self, start: int, stop: int, delimiter: bytes) -> Iterator[tuple[int, int, bool]]:
        """Boundary lines in raw[start:stop]: (where the line starts, where the next line starts, closing)."""
        raw = self.raw
        needle = b"\n" + delimiter
        at = start if raw.startswith(delimiter, start, stop) else -1
        position = start
        while True:
            if at < 0:
                found = raw.find(needle, position, stop)
                if found < 0:
                    return
                at = found + 1
            self.boundary_lines += 1
            if self.boundary_lines > MAX_BOUNDARY_LINES:
                self.limit(LIMIT_BOUNDARIES)
                return
            after = at + len(delimiter)
            close = raw.startswith(b"--", after, stop)
            tail = _LINE_TAIL.match(raw, after + 2 if close else after, stop)
            if tail is not None:
                yield at, tail.end(), close
            position, at = after, -1


def _blank_line(raw: bytes, start: int, stop: int, window: int) -> tuple[int, int]:
    """Where the header block ends (after its last newline) and the body starts; (stop, stop) with no body.

    Looked for within the window first, so a normal part costs a few hundred bytes of searching.
    """
    for horizon in (min(stop, start + window + 4), stop):
        found = _BLANK_LINE.search(raw, start, horizon)
        if found:
            return found.start() + 1, found.end()
        if horizon >= stop:
            break
    return stop, stop


def _fields(raw: bytes, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
    """Header fields in raw[start:stop]: (where it starts, where it ends, where the next one starts)."""
    position = start
    for separator in _FIELD_SEP.finditer(raw, start, stop):
        yield position, separator.start(), separator.end()
        position = separator.end()
    if position < stop:
        yield position, stop, stop


def _field_end(raw: bytes, start: int, stop: int) -> tuple[int, int]:
    found = _FIELD_SEP.search(raw, start, stop)
    return (found.start(), found.end()) if found else (stop, stop)


def _field(raw: bytes, start: int, stop: int) -> bytes:
    """One field on one line, its start and end kept when it is over the limit."""
    colon = raw.find(b":", start, min(stop, start + 100))
    name = raw[start:colon].strip().lower() if colon >= 0 else b""
    cap = MAX_MIME_FIELD if name.startswith(b"content-") else MAX_FIELD
    head, tail = raw[start : start + cap // 2], raw[stop - cap // 2 : stop]
    text = raw[start:stop] if stop - start <= cap else head + b" " + tail
    return _FOLD.sub(b"", text).replace(b"\r", b" ").replace(b"\n", b" ")


def _head_bytes(fields: list[bytes]) -> bytes:
    return b"".join(f + b"\r\n" for f in fields if b":" in f[:100]) + b"\r\n"


def _body(part: Message) -> bytes:
    if isinstance(part, _Part):
        start, stop = part.span
        return part.raw[start:stop]
    return b""


def _body_size(part: Message) -> int:
    return part.span[1] - part.span[0] if isinstance(part, _Part) else 0


def _transfer_encoding(part: Message) -> str:
    return _header(part, "Content-Transfer-Encoding").strip().lower()


def _decoded(part: Message) -> bytes:
    """A leaf's content, decoded as well as it can be; never raises."""
    data = _body(part)
    encoding = _transfer_encoding(part)
    try:
        if encoding == "base64":
            return _base64(data)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(data)
        if encoding in ("x-uuencode", "uuencode", "uue", "x-uue") and len(data) <= 1_048_576:
            legacy = Message()
            legacy["Content-Transfer-Encoding"] = encoding
            legacy.set_payload(data.decode("ascii", "surrogateescape"))
            decoded = legacy.get_payload(decode=True)
            return decoded if isinstance(decoded, bytes) else data
    except Exception:
        return data
    return data


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(c for c in range(256) if c not in _BASE64_ALPHABET)
_PADDING = re.compile(rb"=+")


def _base64(data: bytes) -> bytes:
    """Stray characters dropped, missing padding supplied, a dangling character ignored, and text padded
    in the middle (encoded line by line) read chunk by chunk."""
    clean = data.translate(None, _NOT_BASE64)  # one pass in C, no list of pieces
    chunks = [c for c in _PADDING.split(clean) if c]
    if len(chunks) > 100:  # hostile padding everywhere: read it as one run
        chunks = [b"".join(chunks)]
    out: list[bytes] = []
    for chunk in chunks:
        if len(chunk) % 4 == 1:
            chunk = chunk[:-1]
        try:
            out.append(binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4)))
        except binascii.Error:
            continue
    return b"".join(out)


def _html_bounded(html: str, parsed: ParsedEmail) -> str:
    """HTML cut where it nests deeper than MAX_HTML_DEPTH (elements that close themselves not counted)."""
    if html.count("<") <= MAX_HTML_DEPTH:
        return html
    depth = 0
    for tag in _TAG.finditer(html):
        name = tag.group(2).lower()
        if name in _FLAT_ELEMENTS or tag.group(3):
            continue
        if tag.group(1):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > MAX_HTML_DEPTH:
            parsed.limits.append(LIMIT_HTML)
            return html[: tag.start()]
    return html


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]{0,30})[^<>]*?(/?)>")
# Void elements, elements whose end tag is optional (the parser closes them) and formatting elements
# (the parser caps their nesting): none of them makes the tree deeper without bound.
_VOID = "area base br col embed hr img input link meta source track wbr"
_OPTIONAL_END = "p li dt dd tr td th option optgroup thead tbody tfoot colgroup rb rt rp html head body"
_FORMATTING = "a b big code em font i nobr s small strike strong tt u"
_FLAT_ELEMENTS = frozenset(f"{_VOID} {_OPTIONAL_END} {_FORMATTING}".split(" "))


def _walk(part: Message, parsed: ParsedEmail, limit: int, *, depth: int, state: dict[str, int]) -> None:
    state["parts"] += 1
    if depth > MAX_DEPTH or state["parts"] > MAX_PARTS + 1:
        parsed.defects.append("too deep or too many parts")
        return
    ctype = (part.get_content_type() or "text/plain").lower()
    disposition = (_header(part, "Content-Disposition").split(";")[0] or "").strip().lower()
    filename = _filename(part)

    if ctype == "message/delivery-status":
        _delivery_status(part, parsed)
        return
    if ctype in ("message/rfc822", "message/global") and part.is_multipart():
        inner = part.get_payload()
        embedded = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(embedded, Message):
            original = message_id_normalize(_header(embedded, "Message-ID"))
            if original:
                parsed.bounce = parsed.bounce or Bounce()
                parsed.bounce.original_message_ids.append(original)
            size = _body_size(part)
            data = _body(part) if size <= limit else None  # the forwarded message's own bytes
            _attach(parsed, filename or "forwarded-message.eml", ctype, data, size, limit, part)
        return
    if ctype == "text/rfc822-headers":
        returned = _decoded(part)[: MAX_PART_HEADER_BYTES * 2]
        headers = _Reader(returned).message(0, len(returned), depth=1)
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
        # Declared multipart but no usable structure (no boundary, or one never found): keep the text as it came.
        if not parsed.text:
            parsed.text = decode_bytes(_body(part)[:MAX_TEXT], "utf-8")
        parsed.defects.append("multipart without parts")
        return
    if not is_attachment and ctype in ("text/plain", "text/html") and disposition != "attachment":
        text = decode_bytes(_decoded(part)[: MAX_TEXT * 4], part.get_content_charset())
        if ctype == "text/plain":
            parsed.text = f"{parsed.text}\n{text}" if parsed.text else text
        elif not parsed.html:
            parsed.html = _html_bounded(text, parsed)
        return
    # An attachment, or an inline image (cid:).
    estimated = _estimated_size(part)
    if estimated > limit * 1.05:
        _attach(parsed, filename, ctype, None, estimated, limit, part)
        return
    data = _decoded(part)
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
    size = _body_size(part)
    return size * 3 // 4 if _transfer_encoding(part) == "base64" else size


def _delivery_status(part: Message, parsed: ParsedEmail) -> None:
    parsed.bounce = parsed.bounce or Bounce()
    text = _FOLD.sub(b" ", _decoded(part)[:65_536]).decode("utf-8", "replace")
    for line in text.splitlines():
        raw_key, _, raw_value = line.partition(":")
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
    best = _trailing_quote(text)
    for pattern in _QUOTE_STARTS:
        found = pattern.search(text)
        if found and found.start() > 0 and (best is None or found.start() < best):
            best = found.start()
    return best


def _trailing_quote(text: str) -> int | None:
    """Where two or more `>` lines that end the text begin. (Once a regex, `^(>.*\\n?){2,}\\Z`, which took
    4 s on one line of 24 `>` followed by another line, and minutes on 30.)"""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # one final newline, as `\\Z` allowed
    first = len(lines)
    while first > 0 and lines[first - 1].startswith(">"):
        first -= 1
    if len(lines) - first < 2 or first == 0:
        return None
    return sum(len(line) + 1 for line in lines[:first])
