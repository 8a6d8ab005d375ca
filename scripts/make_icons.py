"""Draw the app icons (static/icons/*.png) once, without an image library: a white speech bubble on the
accent blue. Run again only to change them: `python scripts/make_icons.py`."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ACCENT = (0x24, 0x57, 0xD6)
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"


def _inside_rounded(
    x: float, y: float, left: float, top: float, right: float, bottom: float, r: float
) -> bool:
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _pixel(x: float, y: float, *, maskable: bool) -> tuple[int, int, int]:
    # Maskable icons keep their drawing inside the central 80% safe zone.
    scale = 0.62 if maskable else 0.8
    u, v = (x - 0.5) / scale + 0.5, (y - 0.5) / scale + 0.5
    if _inside_rounded(u, v, 0.1, 0.14, 0.9, 0.72, 0.14):
        return WHITE
    # the bubble's tail, a triangle down and to the left
    if 0.72 <= v <= 0.9 and 0.24 <= u <= 0.44 and (u - 0.24) >= (v - 0.72) * 1.1:
        return WHITE
    return ACCENT


def png(size: int, *, maskable: bool) -> bytes:
    rows = bytearray()
    for j in range(size):
        rows.append(0)
        for i in range(size):
            rows.extend(_pixel((i + 0.5) / size, (j + 0.5) / size, maskable=maskable))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(png(size, maskable=False))
        (OUT / f"icon-maskable-{size}.png").write_bytes(png(size, maskable=True))
    (OUT / "apple-touch-icon.png").write_bytes(png(180, maskable=True))
