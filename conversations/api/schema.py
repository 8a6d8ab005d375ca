"""The OpenAPI document says every status the API can answer, not only the happy one.

drf-spectacular documents what a view returns on success; the errors every client meets (a bad or
missing token, another team's id, a page past the end, a throttled request) are added here, with the
shapes DRF and config.errors give them, so a client (and the schema fuzzer) can rely on the document.
"""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "description": "`detail` says what went wrong in words a person can act on; `code` names it.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
}
INVALID = {
    "type": "object",
    "description": "Each field that was not accepted, with what was wrong with it (or `detail`).",
    "additionalProperties": True,
}

_ERRORS = {
    "400": ("The input was not accepted.", "Invalid"),
    "401": ("No valid credentials: send `Authorization: Token <token>` or log in.", "Error"),
    "403": ("The account may not do this (not an agent of the hub, or not an admin).", "Error"),
    "404": ("No such object among those this agent may see, or no such page.", "Error"),
    "415": ("The body's content type is not one this call reads (JSON, form or multipart).", "Error"),
    "429": ("Too many requests; `Retry-After` says when to try again.", "Error"),
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("Invalid", INVALID)
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            wanted = {"400", "429"}
            if path != "/api/v1/auth/token/":
                wanted |= {"401", "403"}
            if "{" in path or any(
                p.get("name") in ("page", "cursor") for p in operation.get("parameters", [])
            ):
                wanted.add("404")
            if "requestBody" in operation:
                wanted.add("415")  # DRF answers it for a body it cannot read (a broken multipart boundary)
            for status in sorted(wanted):
                description, component = _ERRORS[status]
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
                        },
                    },
                )
    return result
