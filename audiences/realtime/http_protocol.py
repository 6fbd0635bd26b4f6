"""uvicorn's httptools protocol with each response sent in one write (decision 0016).

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, and the body in a second write: two system calls per answer, two
TCP segments on the wire, and on the client side two wake-ups to read one small JSON
answer. For a lookup that is a good share of what the whole exchange costs. Here the
writes a connection makes in one event-loop turn are joined and written once at the end
of the turn (``loop.call_soon``), in order; closing the connection writes what is pending
first. Nothing else of uvicorn changes: it is the same protocol, given a transport whose
``write`` waits for the end of the turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class BatchedWriteTransport:
    """A transport whose writes of one loop turn reach the socket as one write; every other
    attribute is the wrapped transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Writes what is pending now (the end of the loop turn does it anyway)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BatchedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`BatchedWriteTransport`: pass it as
    uvicorn's ``http`` setting."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        batched = BatchedWriteTransport(transport, asyncio.get_running_loop())
        super().connection_made(batched)  # type: ignore[arg-type]
