"""Email HTML made safe to show inside the agent page (nh3), and text drawn from HTML when there is no text part."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import nh3

# nh3's defaults less what can open, toggle or map things (details/summary fire `toggle`, map/area are links).
TAGS = set(nh3.ALLOWED_TAGS) - {"details", "summary", "map", "area"}
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "table": {"summary"},
    "*": {"dir", "lang"},
}
SCHEMES = {"http", "https", "mailto", "cid"}
DROPPED_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript", "xmp"}


def html_sanitize(html: str, *, cid_urls: Callable[[str], str | None]) -> str:
    """Safe HTML: no scripts, handlers, javascript: or data: URLs, no remote images (they track the reader).

    `cid_urls` turns an inline image's Content-ID into our authenticated URL, or None when it points nowhere.
    """

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            if value.lower().startswith("cid:"):
                return cid_urls(value[4:].strip().strip("<>"))
            return None  # remote images are not loaded
        if attribute == "href" and value.lower().startswith("cid:"):
            return None
        return value

    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


# `[^<>]*`, not `[^>]*`: on "<br<br<br..." with no ">" the latter rescanned to the end from every "<br"
# (120 KB of it: 9 s).
_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|/blockquote|/table)\b[^<>]*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """The words of an HTML email, for the entry's plain-text body when the sender sent no text part."""
    marked = _BREAKS.sub("\n", html)
    stripped = nh3.clean(marked, tags=set(), clean_content_tags=DROPPED_WITH_CONTENT)
    text = html_lib.unescape(stripped)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
