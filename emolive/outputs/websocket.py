"""A read-only WebSocket of the live estimates (and the overlay page over plain HTTP on the same port).

The server runs its own asyncio loop on its own thread. The pipeline's threads only append to a short inbox and
wake the loop; each client has a bounded queue, and a client that falls that far behind is dropped (it may
reconnect). Clients send nothing: any message in closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emolive.core.contracts import EmotionEstimate, SourceEvent, TranscriptSegment
from emolive.outputs import messages
from emolive.outputs.clock import ClockMapping
from emolive.outputs.errors import OutputError

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
INBOX = 64  # items waiting for the loop; the oldest go first when it lags
CLIENT_QUEUE = 32  # messages waiting for one client (about 3 s at the default hop) before it is dropped
START_TIMEOUT_S = 5.0
OVERLAY_PATHS = frozenset({"/", "/overlay", "/overlay.html"})


def check_host(host: str, token: str) -> None:
    """Another interface than this machine's only with a token (OutputError otherwise)."""
    if host not in LOCAL_HOSTS and not token:
        raise OutputError(f"serving on {host!r} makes the stream visible to other machines: set a token too "
                          "(outputs.token, or --overlay-token); clients then add ?token=... to the address")


@dataclass(eq=False)
class _Client:
    connection: Any
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: bool = False


class WebSocketServer:
    """``start()`` binds ``host:port`` (0: a free port; OutputError when it cannot) and serves until ``stop()``.

    ``overlay``: the overlay page's HTML, served at ``/`` and ``/overlay`` (None: no page). ``token``: required
    from every client (``?token=...``) when set.
    """

    def __init__(self, mapping: ClockMapping, hop_s: float, host: str = "127.0.0.1", port: int = 8765,
                 token: str = "", overlay: str | None = None, client_queue: int = CLIENT_QUEUE) -> None:
        check_host(host, token)
        self.mapping, self.hop_s, self.host, self.port, self.token = mapping, hop_s, host, port, token
        self.overlay = overlay
        self.client_queue = client_queue
        self.sent = 0
        self.dropped_clients = 0
        self._estimate = messages.EstimateMessages(mapping)
        self._hello = json.dumps(messages.hello(mapping, hop_s))
        self._inbox: deque[tuple[str, Any]] = deque(maxlen=INBOX)
        self._wake_pending = False
        self._pump: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- addresses ---------------------------------------------------------------------------------
    def _base(self, scheme: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"{scheme}://{host}:{self.port}/{{}}{query}"

    @property
    def url(self) -> str:
        """The WebSocket address for clients (with the token when one is set)."""
        return self._base("ws").format("")

    @property
    def overlay_url(self) -> str:
        return self._base("http").format("overlay")

    # --- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="emolive-websocket", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise OutputError(f"the WebSocket server on {self.host}:{self.port} did not start in "
                              f"{START_TIMEOUT_S:g} s")
        if self._error is not None:
            raise _bind_error(self._error, self.host, self.port)
        log.info("WebSocket: %s, overlay page: %s", self.url, self.overlay_url if self.overlay else "off")

    def stop(self, timeout: float = 3.0) -> bool:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just ended by itself
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def clients(self) -> int:
        return len(self._clients)

    # --- contracts.PipelineSink (the pipeline's threads): append and wake, never wait ----------------
    def on_estimate(self, estimate: EmotionEstimate) -> None:
        self._offer(("estimate", estimate))

    def on_segment(self, segment: TranscriptSegment) -> None:
        self._offer(("segment", segment))

    def on_event(self, event: SourceEvent) -> None:
        return None

    def marker(self, label: str, t: float) -> None:
        self._offer(("marker", (label, t)))

    def _offer(self, item: tuple[str, Any]) -> None:
        loop = self._loop
        if loop is None or not self._ready.is_set():
            return
        self._inbox.append(item)  # a deque with maxlen: thread-safe, drops the oldest
        if not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._drain)

    # --- the loop's thread ---------------------------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start() (bind errors) or logged
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("the WebSocket server stopped")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self._stopped = asyncio.Event()
        async with serve(self._handle, self.host, self.port, process_request=self._process_request,
                         close_timeout=1, compression=None, max_size=4096, server_header="emolive") as server:
            self.port = server.sockets[0].getsockname()[1] if self.port == 0 else self.port
            self._ready.set()
            await self._stopped.wait()
            for client in list(self._clients):
                _wake(client)
            server.close(close_connections=True)
            await server.wait_closed()

    def _authorised(self, path: str) -> bool:
        if not self.token:
            return True
        given = parse_qs(urlsplit(path).query).get("token", [""])[0]
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def _process_request(self, connection: Any, request: Any) -> Any:
        """Plain HTTP: the overlay page; a WebSocket upgrade goes on when the token (if any) matches."""
        if not self._authorised(request.path):
            return connection.respond(403, "emolive: a valid ?token=... is required\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        path = urlsplit(request.path).path
        if self.overlay is not None and path in OVERLAY_PATHS:
            response = connection.respond(200, self.overlay)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            response.headers["Cache-Control"] = "no-store"
            return response
        return connection.respond(404, "emolive: not found (the overlay page is at /overlay)\n")

    async def _handle(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        client = _Client(connection, asyncio.Queue(self.client_queue))
        self._clients.add(client)
        reader = asyncio.get_running_loop().create_task(self._refuse_input(client))
        try:
            await connection.send(self._hello)
            while not client.dropped:
                text = await client.queue.get()
                if client.dropped:
                    break
                await connection.send(text)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            reader.cancel()
            with contextlib.suppress(Exception):
                await connection.close(1000 if not client.dropped else 1013, "")

    async def _refuse_input(self, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for _ in client.connection:
                log.warning("WebSocket client %s sent a message: the stream is read-only, closing it",
                            _peer(client.connection))
                _wake(client)
                break

    def _drain(self) -> None:
        """On the loop: start the pump unless it runs (it re-reads the inbox before it ends)."""
        self._wake_pending = False
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._pump_inbox())

    async def _pump_inbox(self) -> None:
        """Pass the inbox on item by item, yielding between two so the clients' senders keep up with a burst."""
        while self._inbox:
            try:
                kind, payload = self._inbox.popleft()
            except IndexError:
                break
            self._broadcast(self._encode(kind, payload))
            await asyncio.sleep(0)

    def _encode(self, kind: str, payload: Any) -> str:
        if kind == "estimate":
            message = self._estimate(payload)
        elif kind == "segment":
            message = messages.segment(payload)
        else:
            message = messages.marker(*payload)
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False)

    def _broadcast(self, text: str) -> None:
        for client in list(self._clients):
            if client.dropped:
                continue
            try:
                client.queue.put_nowait(text)
                self.sent += 1
            except asyncio.QueueFull:
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        """A client ``client_queue`` messages behind: let it go (its handler closes the connection)."""
        self.dropped_clients += 1
        log.warning("WebSocket client %s reads too slowly (%d messages behind): disconnected",
                    _peer(client.connection), self.client_queue)
        _wake(client)
        with contextlib.suppress(Exception):
            client.connection.transport.abort()  # a slow reader must not hold its send (and the close) open


def _wake(client: _Client) -> None:
    """Mark ``client`` dropped and wake its sender (which then closes the connection)."""
    client.dropped = True
    with contextlib.suppress(asyncio.QueueEmpty):
        client.queue.get_nowait()
    with contextlib.suppress(asyncio.QueueFull):
        client.queue.put_nowait("")


def _peer(connection: Any) -> str:
    address = getattr(connection, "remote_address", None)
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else "?"


def _bind_error(exc: BaseException, host: str, port: int) -> OutputError:
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return OutputError(f"port {port} on {host} is in use (another emolive?): choose another with "
                           "outputs.port (or --overlay-port)")
    if isinstance(exc, OSError):
        return OutputError(f"the WebSocket server cannot listen on {host}:{port}: {exc.strerror or exc}")
    return OutputError(f"the WebSocket server could not start: {exc}")

