"""What every fake server shares: a threaded loopback HTTP server, a request log and armed faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .quota import kind_of


@dataclass
class Fault:
    """What the next matching request gets instead of a normal answer."""

    kind: str  # "status": an error answer; "slow": answer after `delay` s; "drop": close without answering.
    #            The *_after kinds first do what was asked, then: "drop_after" closes without answering (the
    #            answer is lost), "status_after" answers `status` anyway (a 5xx for a write that landed),
    #            "slow_after" answers only after `delay` s (the client times out, yet the write landed).
    #            "hold" keeps the request unapplied for `delay` s (or until the server stops), then closes
    #            without answering: with `skip`, the process killed while that write is on its way.
    #            "gate" is "slow" whose `gate` is a condition on the world: the request stays unapplied until
    #            `gate(world)` is true (at most `delay` s), then is served as usual: a write applied late, in an
    #            order a test chooses (until another process's check has been seen, another write has landed).
    status: int = 503
    retry_after: float | None = None
    html: bool = False
    delay: float = 0.0
    path: str = ""  # only requests whose path contains this
    method: str = ""  # only this HTTP method ("" any)
    body_contains: str = ""  # only requests whose body contains this (a GraphQL operation name, say)
    body_lacks: str = ""  # only requests whose body does not contain this
    remaining: int = 1
    skip: int = 0  # the first `skip` matching requests pass untouched; the fault meets the next one
    headers: dict = field(default_factory=dict)  # sent with a "status" answer (RateLimit-* with a 429, say)
    # "slow" / "gate": go on as soon as the test sets this Event, or (a callable) as soon as gate(world) is true
    # under the world's lock; at most `delay` s later either way. One mechanism for both.
    gate: threading.Event | Callable[[Any], bool] | None = None

    def matches(self, method: str, path: str, body: bytes) -> bool:
        return (self.path in path and (not self.method or self.method == method)
                and self.body_contains.encode() in body and not (self.body_lacks and self.body_lacks.encode() in body))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict
    body: Any
    status: int = 0
    fault: str = ""
    bytes_in: int = 0  # request body as received
    bytes_out: int = 0  # response body as sent
    at: float = field(default_factory=time.monotonic)  # when it arrived: lets a test count requests per minute
    processing: float = 0.0  # seconds the fake took on purpose before answering (ms_per_1000_cells[_read])
    cells_read: int = 0  # cells in a read's answer (values, or CellData of grid data), refused or not

    @property
    def is_sheets(self) -> bool:
        return self.path.startswith("/v4/")

    @property
    def is_sheets_read(self) -> bool:
        """As Google's quota counts it: a POST that only reads (values:batchGetByDataFilter) is a read."""
        return self.is_sheets and kind_of(self.method, self.path) == "read"

    @property
    def is_sheets_write(self) -> bool:
        return self.is_sheets and self.method in ("POST", "PUT") and not self.is_sheets_read


@dataclass
class BaseWorld:
    log: list[LoggedRequest] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # bugs in the fake itself; tests assert it stays empty
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def arm(self, kind: str, count: int = 1, **kw) -> Fault:
        """The next `count` matching requests fail this way (see Fault)."""
        fault = Fault(kind=kind, remaining=count, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def disarm(self) -> None:
        with self.lock:
            self.faults.clear()

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def take_fault(self, method: str, path: str, body: bytes) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.matches(method, path, body):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None


class FakeServer:
    """Binds 127.0.0.1 on a free port; use as a context manager so it is always shut down."""

    handler: type["BaseHandler"]

    def __init__(self, world: BaseWorld, host: str = "127.0.0.1", port: int = 0):
        self.world = world
        self._stopping = threading.Event()
        handler = type("Handler", (self.handler,), {"world": world, "stopping": self._stopping, "fake": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeServer":
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_until_killed(self) -> None:
        """Standalone mode: one line with the URL, then serve until SIGINT/SIGTERM."""
        import signal

        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        print(self.url, flush=True)
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    json_indent: int | None = 2  # Google answers pretty-printed JSON; W&B (a Go server) compact JSON
    world: BaseWorld
    stopping: threading.Event
    fake: FakeServer

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def respond(self, method: str, raw_path: str, query: dict, raw_body: bytes,
                entry: LoggedRequest) -> tuple[int, Any, dict]:
        raise NotImplementedError

    def fault_response(self, fault: Fault) -> tuple[int, Any, dict]:
        raise NotImplementedError

    def front_door(self, method: str) -> tuple[int, Any, dict] | None:
        """What a front end in front of the service answers before the service sees the request (a URL it will
        not take, say); None lets the request in. Faults and quotas come after it."""
        return None

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw_path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        entry = LoggedRequest(method, unquote(raw_path), query, None, bytes_in=len(raw_body))
        self._entry = entry
        with self.world.lock:
            self.world.log.append(entry)
        refused = self.front_door(method)
        if refused is not None:
            entry.status = refused[0]
            return self.send(*refused)
        with self.world.lock:
            fault = self.world.take_fault(method, unquote(raw_path), raw_body)
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind == "drop":
                return self._drop(entry)
            if fault.kind == "hold":  # never applied: the sender is gone (killed) before any answer
                self.stopping.wait(fault.delay)
                return self._drop(entry)
            if fault.kind in ("slow", "gate"):
                self._wait(fault)
            elif fault.kind == "status":
                return self._send_fault(fault, entry)
        try:
            status, payload, headers = self.respond(method, raw_path, query, raw_body, entry)
        except Exception:  # a bug in the fake: answer 500 and keep the traceback for the test to see
            import traceback

            self.world.crashes.append(traceback.format_exc())
            status, payload, headers = 500, {"error": {"code": 500, "message": "fake crashed"}}, {}
        entry.status = status
        kind = fault.kind if fault is not None else ""
        if kind == "drop_after":
            return self._drop(entry)
        if kind == "status_after":
            return self._send_fault(fault, entry)
        if kind == "slow_after":
            self.stopping.wait(fault.delay)
        self.send(status, payload, headers)

    def _wait(self, fault: Fault) -> None:
        """A slow answer's wait: its delay, cut short by the server stopping or by the fault's gate (an Event set,
        or a condition on the world come true). Only this handler's thread waits: other requests go on."""
        if fault.gate is None:
            self.stopping.wait(fault.delay)
            return
        deadline = time.monotonic() + fault.delay
        while time.monotonic() < deadline and not self._opened(fault.gate) and not self.stopping.wait(0.01):
            pass

    def _opened(self, gate) -> bool:
        if isinstance(gate, threading.Event):
            return gate.is_set()
        with self.world.lock:
            return bool(gate(self.world))

    def _send_fault(self, fault: Fault, entry: LoggedRequest) -> None:
        entry.status = fault.status
        status, payload, headers = self.fault_response(fault)
        headers = {**headers, **fault.headers}
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        self.send(status, payload, headers)

    def _drop(self, entry: LoggedRequest) -> None:
        entry.status = -1
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def encode(self, payload: Any) -> bytes:
        """A JSON answer's bytes as they go out; a handler that must know an answer's size calls this once and
        sends the bytes (with its own Content-Type)."""
        return encode_json(payload, self.json_indent)

    def send(self, status: int, payload: Any, headers: dict | None = None) -> None:
        """A dict or list goes out as JSON, bytes as they are (HTML error pages), None as no body."""
        headers = dict(headers or {})
        if isinstance(payload, (dict, list)):
            body = self.encode(payload)
            headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        else:
            body = payload or b""
            headers.setdefault("Content-Type", "text/html; charset=UTF-8")
        if getattr(self, "_entry", None) is not None:
            self._entry.bytes_out = len(body)
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def encode_json(payload: Any, indent: int | None) -> bytes:
    """JSON as a fake sends it: indented as its service does (Google), or compact (W&B)."""
    return json.dumps(payload, indent=indent, ensure_ascii=False, allow_nan=False,
                      separators=None if indent else (",", ":")).encode() + b"\n"


def html_error(status: int) -> bytes:
    return (f"<!DOCTYPE html><html><head><title>Error {status}</title></head><body>"
            f"<p><b>{status}.</b> That's an error.</p></body></html>").encode()
