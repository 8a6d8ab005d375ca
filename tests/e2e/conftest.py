from tests.livehub import browser, live_hub, page

__all__ = ["browser", "live_hub", "page"]
