"""`audiences serve`'s HTTP protocol (audiences/realtime/http_protocol.py): a response in one
write, in order, nothing lost on close; and the API answering through it over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import UTC, datetime

import requests
import uvicorn
from realtime_http import SERVER_KEY, free_socket, seed_batch

from audiences.realtime.http_protocol import BatchedHttpToolsProtocol, BatchedWriteTransport

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


class RecordingTransport(asyncio.Transport):
    """What reached the socket: one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5555)}.get(name, default)


def test_the_writes_of_one_loop_turn_reach_the_socket_as_one_in_order():
    async def main() -> tuple[list[bytes], list[bytes], list[bytes]]:
        raw = RecordingTransport()
        batched = BatchedWriteTransport(raw, asyncio.get_running_loop())
        batched.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        batched.write(b"{}")
        during = list(raw.writes)  # nothing written before the turn ends
        await asyncio.sleep(0)
        after_turn = list(raw.writes)
        batched.write(b"last")
        batched.close()  # written before the close, not lost
        return during, after_turn, raw.writes

    during, after_turn, final = asyncio.run(main())
    assert during == []
    assert after_turn == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert final == [*after_turn, b"last"]


def test_abort_drops_what_is_pending_and_other_calls_reach_the_transport():
    async def main() -> RecordingTransport:
        raw = RecordingTransport()
        batched = BatchedWriteTransport(raw, asyncio.get_running_loop())
        assert batched.get_extra_info("peername") == ("127.0.0.1", 5555)
        batched.write(b"never")
        batched.abort()
        await asyncio.sleep(0)
        return raw

    raw = asyncio.run(main())
    assert raw.aborted and raw.writes == []


def _serve_with_protocol(app, sock: socket.socket):
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", http=BatchedHttpToolsProtocol)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    return server, thread


def test_the_api_answers_through_the_protocol_on_one_keep_alive_connection(
    redis_url, redis_client, keys
):
    from audiences.realtime.api import create_app
    from audiences.realtime.settings import RealtimeSettings

    seed_batch(redis_client, keys, NOW, people={"p": ["s1", "s2"]}, ids={"p": "p"})
    settings = RealtimeSettings(
        redis_url=redis_url, redis_prefix=keys.prefix, server_keys=SERVER_KEY
    )
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server, thread = _serve_with_protocol(create_app(settings, clock=lambda: NOW), sock)
    try:
        with requests.Session() as session:  # one keep-alive connection for all
            session.headers["Authorization"] = f"Bearer {SERVER_KEY}"
            answers = [session.get(f"{base}/v1/profiles/p/segments", timeout=10) for _ in range(3)]
            missing = session.get(f"{base}/v1/profiles/nobody/segments", timeout=10)
            posted = session.post(f"{base}/v1/events", json={"events": []}, timeout=10)
            closing = session.get(
                f"{base}/v1/profiles/p/segments", headers={"Connection": "close"}, timeout=10
            )
        for answer in [*answers, closing]:
            assert answer.status_code == 200
            assert answer.json() == {
                "person_id": "p",
                "segments": ["s1", "s2"],
                "updated_at": "2026-11-24T12:00:00Z",
            }
            assert answer.headers["Cache-Control"] == "no-store"
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_profile"
        assert posted.status_code == 202 and posted.json() == {"accepted": 0, "duplicates": 0}
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
