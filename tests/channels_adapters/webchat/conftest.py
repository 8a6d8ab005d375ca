from tests.webchat import inbox_webchat, visitor_for

__all__ = ["inbox_webchat", "visitor_for"]
