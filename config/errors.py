"""Application errors: each carries a message a person can act on and the HTTP status the API answers with."""

from __future__ import annotations


class HubError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(HubError):
    status_code = 400
    code = "invalid"


class NotFound(HubError):
    status_code = 404
    code = "not_found"


class ChannelRuleError(HubError):
    """The channel's rules forbid this send (opted out, outside WhatsApp's window)."""

    status_code = 409
    code = "channel_rule"


class Conflict(HubError):
    """The request clashes with what is already stored (a client key used for something else)."""

    status_code = 409
    code = "conflict"


class PermissionDenied(HubError):
    status_code = 403
    code = "permission_denied"
