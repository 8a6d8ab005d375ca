"""Small image files built byte by byte, with any dimensions declared and anything appended.

The PNG and GIF are complete, decodable images; the JPEG and WebP carry the headers that say what they are
and how large, which is all a check of declared dimensions reads.
"""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 2, height: int = 2, *, after: bytes = b"", text: bytes = b"") -> bytes:
    """A grey PNG. Huge dimensions get a token IDAT: the header is the bomb, as in a real one."""
    pixels = (
        b"".join(b"\x00" + b"\x80" * width for _ in range(height)) if width * height <= 1_000_000 else b""
    )
    chunks = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if text:
        chunks += _chunk(b"tEXt", b"Comment\x00" + text)
    chunks += _chunk(b"IDAT", zlib.compress(pixels)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks + after


def gif(width: int = 2, height: int = 2, *, after: bytes = b"") -> bytes:
    """A one-colour GIF89a with a two-entry palette."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b"\x3b" + after


def jpeg(width: int = 2, height: int = 2, *, after: bytes = b"") -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof0 + sos + b"\x00" * 16 + b"\xff\xd9" + after


def webp(width: int = 2, height: int = 2) -> bytes:
    """An extended WebP header (VP8X) declaring the canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body
