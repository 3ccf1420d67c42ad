"""The HTTP server under `sre-bot serve`: WSGI on a fixed set of handler threads, with limits on what a client holds.

A connection costs a thread only once its whole request head (request line and headers) has arrived. Until then it
waits in a selector without one, and is closed after ``head_timeout_s``: idle and slow-head connections hold a file
descriptor, never a thread. Complete requests go to ``workers`` handler threads through a queue of ``max_queued``;
when that is full, or ``max_connections`` are already open, the next connection is answered 503 at once.

A handler reads the body under one deadline for the whole of it (``body_timeout_s`` from the end of the head, not
per read, so a byte every few seconds does not keep a thread either) and writes under ``write_timeout_s``. A
connection answered before its body was read (413, 401 on headers alone, a 503) is drained in the selector for at
most ``linger_s`` and ``linger_bytes``, so the client reads the answer rather than a reset; the drained bytes are
discarded as they arrive.

Each connection carries one request (wsgiref answers HTTP/1.0); the listen backlog is 256.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

Environ = dict[str, Any]
WsgiApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

#: The WSGI environ key under which a request's connection lies (see `mark_body_unread`).
CONNECTION_KEY = "sre_bot.connection"


@dataclass(frozen=True)
class Limits:
    """What one server lets its clients hold. The defaults are `sre-bot serve`'s."""

    #: Handler threads. Slack wants its ack within 3 s and a handler stores the page before it acks.
    workers: int = 32
    #: Complete requests waiting for a handler thread; the next one is answered 503 (Slack and the webhooks retry).
    max_queued: int = 64
    #: Open connections in every state; the next one is answered 503 and closed. Well under the usual 1024 files.
    max_connections: int = 512
    #: From connecting until the request head is complete (an idle connection is closed then).
    head_timeout_s: float = 10.0
    #: For the whole body, from the end of the head.
    body_timeout_s: float = 10.0
    #: For the whole response.
    write_timeout_s: float = 10.0
    #: Request line and headers together (Slack, PagerDuty and SNS send a few hundred bytes).
    max_head_bytes: int = 64 * 1024
    #: How long, and how much, an answered connection's unread input is discarded before it is closed.
    linger_s: float = 1.0
    linger_bytes: int = 1024 * 1024


def _response(status: str, reason: str, extra: str = "") -> bytes:
    body = json.dumps({"error": reason}).encode()
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


_BUSY = _response("503 Service Unavailable", "server busy, retry", "Retry-After: 1\r\n")
_HEAD_TOO_LARGE = _response("431 Request Header Fields Too Large", "request head too large")
_HEAD_TIMEOUT = _response("408 Request Timeout", "request head not received in time")


@dataclass(eq=False)
class Connection:
    """One client connection and where it is: waiting for its head, queued, being served, or draining."""

    sock: socket.socket
    addr: Any
    deadline: float
    head: bytearray = field(default_factory=bytearray)
    draining: bool = False
    drained: int = 0
    #: Set by the application when it answered without reading the body (`mark_body_unread`).
    body_unread: bool = False


def mark_body_unread(environ: Environ) -> None:
    """Tell the server that this request is answered without its body being read, so that the connection is drained
    before it is closed (else the client may see a reset instead of the answer)."""
    conn = environ.get(CONNECTION_KEY)
    if isinstance(conn, Connection):
        conn.body_unread = True


def _head_complete(buf: bytearray, searched_from: int) -> bool:
    start = max(0, searched_from - 3)
    return buf.find(b"\r\n\r\n", start) >= 0 or buf.find(b"\n\n", start) >= 0


class _DeadlineReader(io.RawIOBase):
    """The request as a stream: the head the selector read, then the socket, under the connection's deadline."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._head = bytes(conn.head)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos < len(self._head):
            n = min(len(view), len(self._head) - self._pos)
            view[:n] = self._head[self._pos : self._pos + n]
            self._pos += n
            return n
        remaining = self._conn.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._conn.sock.settimeout(remaining)
        return self._conn.sock.recv_into(view)


class _Writer(io.BufferedIOBase):
    """The response side: each write sends everything within the write timeout."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self._sock = sock
        self._timeout_s = timeout_s

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(self._timeout_s)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class _Handler(WSGIRequestHandler):
    """wsgiref's request handler, reading from the head already received and the socket under deadlines."""

    def setup(self) -> None:
        conn = cast(Connection, self.request)
        limits = cast(LimitedServer, self.server).limits
        self.connection = conn.sock
        self.rfile = io.BufferedReader(_DeadlineReader(conn), 64 * 1024)
        self.wfile = _Writer(conn.sock, limits.write_timeout_s)

    def finish(self) -> None:
        self.rfile.close()

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[CONNECTION_KEY] = self.request
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged line by line."""


class LimitedServer(WSGIServer):
    """A WSGI server that holds to `Limits` (see the module docstring). `serve_forever` runs the selector loop."""

    request_queue_size = 256  # socketserver's 5 overflows in a burst and clients wait 1 s for SYN retries

    def __init__(self, address: tuple[str, int], app: WsgiApp, limits: Limits) -> None:
        super().__init__(address, _Handler)
        self.set_app(app)
        self.limits = limits
        self.socket.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[socket.socket, Connection] = {}
        self._ready: queue.Queue[Connection | None] = queue.Queue(limits.max_queued)
        self._to_drain: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()
        self._open = 0
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._workers: list[threading.Thread] = []

    @property
    def open_connections(self) -> int:
        """Connections open now, in every state."""
        with self._lock:
            return self._open

    # -- the selector loop ------------------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept, read request heads, drain and expire connections until `shutdown`."""
        self._stopped.clear()
        self._start_workers()
        self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(self._next_wait(poll_interval)):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._woken()
                    else:
                        self._readable(cast(Connection, key.data))
                self._expire(time.monotonic())
        finally:
            self._selector.unregister(self.socket)
            self._selector.unregister(self._wake_r)
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` and wait for it to return."""
        self._stopping.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket, every waiting connection and the handler threads."""
        super().server_close()
        for conn in list(self._waiting.values()):
            self._close(conn)
        for _ in self._workers:
            self._ready.put(None)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _start_workers(self) -> None:
        while len(self._workers) < self.limits.workers:
            name = f"http-{self.server_port}-{len(self._workers)}"
            worker = threading.Thread(target=self._work, name=name, daemon=True)
            worker.start()
            self._workers.append(worker)

    def _next_wait(self, poll_interval: float) -> float:
        if not self._waiting:
            return poll_interval
        soonest = min(c.deadline for c in self._waiting.values())
        return max(0.0, min(poll_interval, soonest - time.monotonic()))

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the pipe is full (a wake-up is pending anyway) or closed
            self._wake_w.send(b"x")

    def _woken(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                conn = self._to_drain.get_nowait()
            except queue.Empty:
                return
            self._linger(conn)

    def _accept(self) -> None:
        for _ in range(64):  # what is waiting, a batch at a time, so the loop also serves the others
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # out of file descriptors: the backlog waits for the next turn
                log.warning("accept failed: %s", err)
                return
            with self._lock:
                admitted = self._open < self.limits.max_connections
                self._open += admitted
            if not admitted:
                _send_and_close(sock, _BUSY)
                continue
            sock.setblocking(False)
            conn = Connection(sock, addr, time.monotonic() + self.limits.head_timeout_s)
            self._watch(conn)

    def _watch(self, conn: Connection) -> None:
        self._waiting[conn.sock] = conn
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _unwatch(self, conn: Connection) -> None:
        self._waiting.pop(conn.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)

    def _readable(self, conn: Connection) -> None:
        try:
            chunk = conn.sock.recv(64 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(conn)
        elif conn.draining:
            conn.drained += len(chunk)
            if conn.drained > self.limits.linger_bytes:
                self._close(conn)
        else:
            searched = len(conn.head)
            conn.head += chunk
            if _head_complete(conn.head, searched):
                self._unwatch(conn)
                self._dispatch(conn)
            elif len(conn.head) >= self.limits.max_head_bytes:
                self._answer_here(conn, _HEAD_TOO_LARGE)

    def _dispatch(self, conn: Connection) -> None:
        conn.deadline = time.monotonic() + self.limits.body_timeout_s
        conn.sock.setblocking(True)
        try:
            self._ready.put_nowait(conn)
        except queue.Full:
            self._answer_here(conn, _BUSY)

    def _answer_here(self, conn: Connection, response: bytes) -> None:
        """Answer from the selector loop (a small response, sent without blocking), then drain."""
        self._unwatch(conn)
        conn.sock.setblocking(False)
        try:
            conn.sock.send(response)
        except OSError:
            self._close(conn)
            return
        self._linger(conn)

    def _linger(self, conn: Connection) -> None:
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.draining = True
        conn.deadline = time.monotonic() + self.limits.linger_s
        self._watch(conn)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._waiting.values() if c.deadline <= now]:
            if conn.draining or not conn.head:
                self._close(conn)
            else:
                self._unwatch(conn)
                _send_and_close(conn.sock, _HEAD_TIMEOUT)
                self._release()

    def _close(self, conn: Connection) -> None:
        self._unwatch(conn)
        conn.sock.close()
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._open -= 1

    # -- the handler threads ----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            conn = self._ready.get()
            if conn is None:
                return
            self._serve(conn)

    def _serve(self, conn: Connection) -> None:
        try:
            _Handler(conn, conn.addr, self)  # type: ignore[arg-type]  # a Connection stands for the socket
        except Exception as err:  # a client that timed out or went away (the application logs its own errors)
            log.debug("connection from %s ended: %s", conn.addr, err)
            conn.sock.close()
            self._release()
            return
        if conn.body_unread or _input_pending(conn.sock):
            self._to_drain.put(conn)
            self._wake()
            return
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.sock.close()
        self._release()


def _input_pending(sock: socket.socket) -> bool:
    """Whether unread input waits on `sock` (without blocking)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False


def _send_and_close(sock: socket.socket, response: bytes) -> None:
    """Best effort: a small response without blocking, then close."""
    try:
        sock.setblocking(False)
        sock.send(response)
    except OSError:
        pass
    sock.close()


class HttpServer:
    """A `LimitedServer` on `host:port` (port 0 picks a free one), served from a daemon thread or this one."""

    def __init__(
        self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None
    ) -> None:
        self._server = LimitedServer((host, port), app, limits or Limits())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://127.0.0.1:{port}"

    @property
    def server(self) -> LimitedServer:
        """The server itself (its open connection count, its limits)."""
        return self._server

    def start(self) -> HttpServer:
        """Serve in the background."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), daemon=True, name="http"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop` is called (from another thread or a signal handler)."""
        self._server.serve_forever(0.2)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
