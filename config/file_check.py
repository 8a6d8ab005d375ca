"""What a received file may be served as, judged by its bytes alone.

`sniff_content_type` reads the magic number; an image is then only an image if its structure holds up: the
dimensions its header declares are within IMAGE_MAX_PIXELS (a 50000 x 50000 PNG is a few KB and gigabytes
once an agent's browser decodes it), PNG and GIF end where their format says they end (nothing appended, so
`GIF89a` followed by a page is not a GIF), and no HTML sits near the start, where content sniffers look.
A file that fails is kept as application/octet-stream: downloaded, never shown inline. SVG is never an
image here: it is a document that can run script.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

OCTET_STREAM = "application/octet-stream"
IMAGE_MAX_PIXELS = 100_000_000  # a 100-megapixel photo decodes to 400 MB; anything larger is refused
IMAGE_MAX_SIDE = 30_000

# Markup a content sniffer would take for a page. Looked for in the first KB only: that is where sniffers
# look, and compressed pixels further on would match by chance now and then.
_MARKUP = re.compile(
    rb"<(?:script|html|body|head|svg|iframe|object|embed|meta|!doctype|\?xml-stylesheet)[\s>/]", re.IGNORECASE
)
_MARKUP_WINDOW = 1024

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"#!AMR", 0, "audio/amr"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"ftyp", 4, "video/mp4"),
    (b"BEGIN:VCARD", 0, "text/vcard"),
)

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "audio/amr": "amr",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "video/mp4": "mp4",
    "text/vcard": "vcf",
}


def sniff_content_type(data: bytes) -> str:
    """What the bytes are, never what the sender said they are."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06:
        return "audio/mpeg"  # an MP3 frame with no ID3 tag (Twilio's recordings start so)
    for magic, offset, content_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    return "application/octet-stream"


class NotAnImage(ValueError):
    pass


@dataclass(frozen=True)
class Checked:
    content_type: str  # what the file is served as
    problem: str = ""  # why it is not served as what its magic number claims, for the person who sent it


def file_checked(data: bytes) -> Checked:
    """The type to store and serve `data` as, with the reason when an image was demoted to a plain file."""
    content_type = sniff_content_type(data)
    if content_type == OCTET_STREAM:
        return Checked(OCTET_STREAM)  # nothing we know: a plain file, whatever it claims to be
    if _MARKUP.search(data[:_MARKUP_WINDOW]) is not None:
        return Checked(OCTET_STREAM, f"The file starts as {content_type} but holds a web page's markup.")
    checker = _CHECKERS.get(content_type)
    if checker is None:
        return Checked(content_type)
    try:
        width, height = checker(data)
    except (NotAnImage, struct.error, IndexError) as error:
        detail = str(error) if isinstance(error, NotAnImage) else "it ends too early"
        return Checked(
            OCTET_STREAM, f"The file is not a valid {content_type.split('/')[1].upper()} image: {detail}."
        )
    if width <= 0 or height <= 0:
        return Checked(OCTET_STREAM, "The image declares no size.")
    if width > IMAGE_MAX_SIDE or height > IMAGE_MAX_SIDE or width * height > IMAGE_MAX_PIXELS:
        return Checked(
            OCTET_STREAM,
            f"The image is {width} x {height} pixels; the limit is {IMAGE_MAX_PIXELS // 1_000_000} megapixels.",
        )
    return Checked(content_type)


def filename_for(name: str, content_type: str, *, fallback: str = "file") -> str:
    """A safe file name whose extension is the one of what the bytes are (`page.html` holding a PNG is
    `page.png`), so a file saved from the browser opens as what it is."""
    cleaned = re.sub(r"[^\w. -]", "_", name).strip(" .")[-100:] or fallback
    extension = EXTENSIONS.get(content_type)
    if extension is None:
        return cleaned
    stem = cleaned.rsplit(".", 1)[0] if "." in cleaned else cleaned
    return f"{stem.rstrip(' .') or fallback}.{extension}"


# --- the formats ------------------------------------------------------------------------------------------
def _png(data: bytes) -> tuple[int, int]:
    if data[8:16] != b"\0\0\0\rIHDR":
        raise NotAnImage("it does not start with its header")
    width, height = struct.unpack(">II", data[16:24])
    position = 8
    while True:
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise NotAnImage(f"the {kind.decode('latin-1')!r} chunk is damaged")
        position += 12 + length
        if kind == b"IEND":
            break
    if data[position:].strip(b"\0"):
        raise NotAnImage("something follows its end")
    return width, height


def _gif(data: bytes) -> tuple[int, int]:
    width, height, flags = struct.unpack("<HHB", data[6:11])
    position = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while True:
        block = data[position]
        if block == 0x3B:  # trailer
            position += 1
            break
        if block == 0x21:  # extension: label, then sub-blocks
            position = _gif_sub_blocks(data, position + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            frame_width, frame_height, frame_flags = struct.unpack("<HHB", data[position + 5 : position + 10])
            # A frame larger than the screen it is drawn on is decoded at its own size.
            width, height = max(width, frame_width), max(height, frame_height)
            position += 10 + (3 * 2 ** ((frame_flags & 7) + 1) if frame_flags & 0x80 else 0)
            position = _gif_sub_blocks(data, position + 1)
        else:
            raise NotAnImage(f"unexpected byte 0x{block:02x} at {position}")
    if data[position:].strip(b"\0"):
        raise NotAnImage("something follows its end")
    return width, height


def _gif_sub_blocks(data: bytes, position: int) -> int:
    while True:
        length = data[position]
        if position + 1 + length > len(data):
            raise NotAnImage("it ends too early")
        position += 1 + length
        if length == 0:
            return position


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) share the range and do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> tuple[int, int]:
    """Walk the segments up to the first scan. What follows the image (a phone's motion photo, a second
    picture) is left alone: the markup window and the type we serve guard against it."""
    position = 2
    while True:
        while data[position] == 0xFF and data[position + 1] == 0xFF:
            position += 1  # fill bytes
        if data[position] != 0xFF:
            raise NotAnImage(f"no segment marker at {position}")
        marker = data[position + 1]
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 2
            continue
        if marker in (0xD9, 0xDA):
            raise NotAnImage("no frame header before its pixels")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(data):
            raise NotAnImage("a segment runs past its end")
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length


def _webp(data: bytes) -> tuple[int, int]:
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 != len(data) and riff_size + 9 != len(data):
        raise NotAnImage("its length does not match its header")
    kind = data[12:16]
    chunk = data[20:]
    if kind == b"VP8X":
        width = 1 + int.from_bytes(chunk[4:7], "little")
        height = 1 + int.from_bytes(chunk[7:10], "little")
        return width, height
    if kind == b"VP8L":
        if chunk[0] != 0x2F:
            raise NotAnImage("its lossless header is wrong")
        bits = int.from_bytes(chunk[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 ":
        if chunk[3:6] != b"\x9d\x01\x2a":
            raise NotAnImage("its frame header is wrong")
        width, height = struct.unpack("<HH", chunk[6:10])
        return width & 0x3FFF, height & 0x3FFF
    raise NotAnImage(f"unknown chunk {kind!r}")


_CHECKERS = {"image/png": _png, "image/gif": _gif, "image/jpeg": _jpeg, "image/webp": _webp}
