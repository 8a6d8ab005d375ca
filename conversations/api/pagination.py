"""Pagination that refuses what the OpenAPI document says is invalid instead of quietly guessing.

DRF reads `?page=` (empty) as page 1 and ignores a `page_size` that is not a number; the document says
both are integers, so a client sending them has a bug it should hear about.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request


class PagePagination(PageNumberPagination):
    def get_page_number(self, request: Request, paginator: Any) -> Any:
        # Present but empty is not "the first page": the paginator answers 404 "Invalid page." for it.
        page_number = request.query_params.get(self.page_query_param, 1)
        if page_number in self.last_page_strings:
            page_number = paginator.num_pages
        return page_number


class StrictCursorPagination(CursorPagination):
    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int | None:
        value = request.query_params.get(self.page_size_query_param)
        if value is not None:
            try:
                size = int(value)
            except ValueError:
                size = 0
            if size < 1:
                raise ValidationError({self.page_size_query_param: ["A whole number of at least 1."]})
        return super().get_page_size(request)
