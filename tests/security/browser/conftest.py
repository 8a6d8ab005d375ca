# A package of its own: the browser fixture is package-scoped and must not share a package with asyncio tests.
from tests.livehub import browser, live_hub, page

__all__ = ["browser", "live_hub", "page"]
