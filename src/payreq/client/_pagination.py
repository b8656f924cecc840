"""Lists that page by themselves: iterate a list call for its items, or ``.pages()``
for one page at a time. A page is fetched only when the iteration reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from payreq.client._core import Call
from payreq.client._models import Page
from payreq.client._operations import Listing

T = TypeVar("T")


def _next(page: Page[T]) -> str | None:
    return page.next_cursor if page.has_more and page.next_cursor else None


class Paginator(Generic[T]):
    """``for item in client.list_payments(...)``; ``for page in ....pages()``."""

    def __init__(self, run: Callable[[Call[Page[T]]], Page[T]], listing: Listing[T]) -> None:
        self._run = run
        self._listing = listing

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def pages(self) -> Iterator[Page[T]]:
        cursor = self._listing.first_cursor
        while True:
            page = self._run(self._listing.page(cursor))
            yield page
            cursor = _next(page)
            if cursor is None:
                return


class AsyncPaginator(Generic[T]):
    """``async for item in client.list_payments(...)``; ``async for page in ....pages()``."""

    def __init__(self, run: Callable[[Call[Page[T]]], Awaitable[Page[T]]], listing: Listing[T]) -> None:
        self._run = run
        self._listing = listing

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor = self._listing.first_cursor
        while True:
            page = await self._run(self._listing.page(cursor))
            yield page
            cursor = _next(page)
            if cursor is None:
                return
