"""The handler registry: what each envelope type does at the node it is addressed to.

The protocol layer knows no domain. Each domain has a ``handlers.py`` with a
``register(registry)`` that adds its listeners; the app, the arq worker and the CLI build one
registry with :func:`node.wiring.build_registry` and hand it to the inbox. A type may have
several listeners (a ``filing.receipt`` updates the sent plan filings *and* the filed
reports); they run in registration order, in the batch's transaction, and a ``Rejected``
from any of them rejects the envelope and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from node.runtime import NodeRuntime
from sync import Directory, Envelope, Rejected


@dataclass
class Context:
    """What a handler gets: the batch's session, the node, its directory and the envelope."""

    session: AsyncSession
    rt: NodeRuntime
    directory: Directory
    env: Envelope
    # rows a handler adds in bulk: inserted with the batch's envelope rows, after them
    bulk: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)

    def insert_later(self, table: Any, row: dict[str, Any]) -> None:
        """Queue a plain row for the batch's bulk insert (cheaper than an ORM object for
        high-volume, write-only rows such as ledger entries)."""
        self.bulk.setdefault(table, []).append(row)


Handler = Callable[[Context], Awaitable[dict[str, Any] | None]]


class Registry:
    """Envelope type → listeners. Built once per process, read-only afterwards."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, type_name: str, handler: Handler) -> None:
        """Add a listener for ``type_name``; it may return extra receipt fields."""
        self._handlers.setdefault(type_name, []).append(handler)

    def types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def handlers(self, type_name: str) -> tuple[Handler, ...]:
        return tuple(self._handlers.get(type_name, ()))

    async def apply(self, ctx: Context) -> dict[str, Any]:
        """Run every listener of the envelope's type; their receipt fields, merged.

        A listener validates before it writes, so its own ``Rejected`` leaves nothing behind;
        but a later listener's ``Rejected`` comes after earlier listeners wrote: it is raised
        as :class:`RejectedAfterWrites`, and the inbox takes the batch again without that
        envelope."""
        extra: dict[str, Any] = {}
        for i, handler in enumerate(self._handlers.get(ctx.env["type"], ())):
            try:
                got = await handler(ctx)
            except Rejected as e:
                if i == 0:
                    raise
                raise RejectedAfterWrites(e.code, e.message, e.pointer) from None
            if got:
                extra.update(got)
        return extra


class RejectedAfterWrites(Rejected):
    """A listener refused an envelope after an earlier listener of its type had written."""
