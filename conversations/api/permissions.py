from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from conversations.selectors import agent_is_admin, agent_profile, agent_sees_everything


class IsAgent(BasePermission):
    message = "This account is not an agent of the hub."

    def has_permission(self, request: Request, view: Any) -> bool:
        return agent_sees_everything(request.user) or agent_profile(request.user) is not None


class IsAdminForWrites(BasePermission):
    message = "Only admins change inbox settings."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return agent_is_admin(request.user)


class IsManagerOrAdmin(BasePermission):
    message = "Only managers and admins do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return agent_sees_everything(request.user)
