"""RabbitMQBackend: can we open (and close) an AMQP 0-9-1 connection?

Kwargs: ``url`` (default ``settings.BROKER_URL``, else
``settings.CELERY_BROKER_URL``; amqp://, pyamqp:// or amqps://
``user:password@host:port/vhost``, Celery's defaults guest/guest, port
5672/5671 and vhost "/") and ``socket_timeout`` (seconds for the connect and
for each frame of the handshake, default 2).

The handshake is done here with socket + struct, no client library: it is
five round trips and a failure names the exact step. Section numbers refer
to the AMQP 0-9-1 specification (amqp0-9-1.pdf, "General Architecture" and
"Functional Specification" / "Technical Specifications").

    client                         broker
    protocol header  ------------>                       4.2.2
                     <------------ Connection.Start      1.4.2.1
    Start-Ok (PLAIN) ------------>                       1.4.2.2
                     <------------ Connection.Tune       1.4.2.5
    Tune-Ok          ------------>                       1.4.2.6
    Open (vhost)     ------------>                       1.4.2.7
                     <------------ Connection.Open-Ok    1.4.2.8
    Close            ------------>                       1.4.2.9
                     <------------ Connection.Close-Ok   1.4.2.10

The broker refuses bad credentials or an unknown vhost with Connection.Close
(reply code 403 ACCESS_REFUSED / 530 NOT_ALLOWED and a reason) instead of
dropping the socket, because Start-Ok announces RabbitMQ's
``authentication_failure_close`` capability.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

from .base import BaseHealthCheckBackend, ServiceReturnedUnexpectedResult, ServiceUnavailable

DEFAULT_SOCKET_TIMEOUT = 2.0

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"  # 4.2.2: "AMQP", 0, major 0, minor 9, revision 1
FRAME_METHOD, FRAME_HEARTBEAT = 1, 8  # 4.2.3 frame types
FRAME_END = 0xCE  # 4.2.3: every frame ends with this octet
CONNECTION = 10  # 1.4.2: class id of the connection class
START, START_OK, TUNE, TUNE_OK, OPEN, OPEN_OK, CLOSE, CLOSE_OK = 10, 11, 30, 31, 40, 41, 50, 51
METHOD_NAMES = {
    START: "Start", START_OK: "Start-Ok", 20: "Secure", TUNE: "Tune", TUNE_OK: "Tune-Ok",
    OPEN: "Open", OPEN_OK: "Open-Ok", CLOSE: "Close", CLOSE_OK: "Close-Ok",
}  # fmt: skip
SCHEMES = {"amqp": 5672, "pyamqp": 5672, "amqps": 5671}


class AMQPError(Exception):
    """A handshake step failed; the message says which and why."""


# ---- encoding (4.2.5: integers are big-endian; shortstr = octet length, longstr = long length)


def shortstr(value: str) -> bytes:
    data = value.encode()
    if len(data) > 255:
        raise AMQPError(f"{value[:20]!r}... is longer than a shortstr (255 bytes)")
    return struct.pack("!B", len(data)) + data


def longstr(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def table(fields: dict[str, Any]) -> bytes:
    """A field table (4.2.5.5) of strings ("S"), booleans ("t") and tables ("F")."""
    out = b""
    for name, value in fields.items():
        out += shortstr(name)
        if isinstance(value, bool):
            out += b"t" + struct.pack("!B", value)
        elif isinstance(value, dict):
            out += b"F" + table(value)
        else:
            out += b"S" + longstr(str(value).encode())
    return longstr(out)


def method_frame(method_id: int, args: bytes = b"") -> bytes:
    # 4.2.3 general frame: type, channel (0 = the connection), size, payload, frame-end;
    # 4.2.4 method payload: class id, method id, arguments.
    payload = struct.pack("!HH", CONNECTION, method_id) + args
    return struct.pack("!BHI", FRAME_METHOD, 0, len(payload)) + payload + bytes([FRAME_END])


# ---- decoding


class Reader:
    """Reads frames from the socket, each read bounded by the remaining time."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def exactly(self, n: int, step: str) -> bytes:
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AMQPError(f"the broker closed the socket while we waited for {step}")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def method(self, step: str) -> tuple[int, bytes]:
        """The next connection method frame: (method id, arguments)."""
        while True:
            head = self.exactly(7, step)
            if head[:4] == b"AMQP":
                # 4.2.2: a broker that does not speak 0-9-1 answers with its own header.
                theirs = head[:4] + self.exactly(1, step)
                raise AMQPError(f"the broker does not accept AMQP 0-9-1 (it sent {theirs!r})")
            kind, channel, size = struct.unpack("!BHI", head)
            payload = self.exactly(size + 1, step)
            if payload[-1] != FRAME_END:
                raise AMQPError(f"malformed frame while waiting for {step} (no frame-end octet)")
            if kind == FRAME_HEARTBEAT:  # 4.2.7: may come at any time; nothing to do
                continue
            class_id, method_id = struct.unpack("!HH", payload[:4])
            if kind != FRAME_METHOD or channel != 0 or class_id != CONNECTION:
                raise AMQPError(
                    f"unexpected frame (type {kind}, channel {channel}, class {class_id}) "
                    f"while waiting for {step}"
                )
            return method_id, payload[4:-1]


def parse_close(args: bytes) -> str:
    """Connection.Close arguments (1.4.2.9): reply-code, reply-text, class-id, method-id."""
    code, text_len = struct.unpack("!HB", args[:3])
    text = args[3 : 3 + text_len].decode(errors="replace")
    return f"{code} {text}"


# ---- the handshake


def parse_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise AMQPError(f"not an AMQP URL (scheme {parts.scheme!r}, expected amqp:// or amqps://)")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or SCHEMES[parts.scheme],
        "user": unquote(parts.username) if parts.username is not None else "guest",
        "password": unquote(parts.password) if parts.password is not None else "guest",
        # Celery/kombu: an empty path means the default vhost "/"; "//" is "/" explicitly.
        "vhost": unquote(path) or "/",
        "tls": parts.scheme == "amqps",
    }


def handshake(
    host: str, port: int, user: str, password: str, vhost: str, tls: bool, timeout: float
) -> None:
    """Opens and closes one AMQP connection; AMQPError / OSError / TimeoutError on failure."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        reader = Reader(sock, deadline)
        sock.sendall(PROTOCOL_HEADER)

        def expect(wanted: int, step: str) -> bytes:
            method_id, args = reader.method(step)
            if method_id == CLOSE:
                # The broker refused something: answer Close-Ok (1.4.2.10) and report why.
                sock.sendall(method_frame(CLOSE_OK))
                raise AMQPError(f"the broker refused {step}: {parse_close(args)}")
            if method_id != wanted:
                got = METHOD_NAMES.get(method_id, str(method_id))
                raise AMQPError(f"expected Connection.{METHOD_NAMES[wanted]}, got {got}")
            return args

        # 1.4.2.1 Start: version-major, version-minor, server-properties (table),
        # mechanisms (longstr, space separated), locales (longstr).
        args = expect(START, "Connection.Start")
        (props_len,) = struct.unpack("!I", args[2:6])
        (mech_len,) = struct.unpack("!I", args[6 + props_len : 10 + props_len])
        mechanisms = args[10 + props_len : 10 + props_len + mech_len].split()
        if b"PLAIN" not in mechanisms:
            raise AMQPError(f"the broker does not offer PLAIN authentication ({mechanisms!r})")

        # 1.4.2.2 Start-Ok: client-properties, mechanism, response, locale.
        # PLAIN response (RFC 4616): authzid NUL authcid NUL password.
        client_props = {
            "product": "squall health check",
            "capabilities": {"authentication_failure_close": True},
        }
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        start_ok = table(client_props) + shortstr("PLAIN") + longstr(response) + shortstr("en_US")
        sock.sendall(method_frame(START_OK, start_ok))

        # 1.4.2.5 Tune: channel-max (short), frame-max (long), heartbeat (short).
        # Tune-Ok takes the broker's limits and 0 = no heartbeats (we close at once).
        args = expect(TUNE, f"authentication as user {user!r} (Connection.Tune)")
        channel_max, frame_max, _heartbeat = struct.unpack("!HIH", args[:8])
        sock.sendall(method_frame(TUNE_OK, struct.pack("!HIH", channel_max, frame_max, 0)))

        # 1.4.2.7 Open: virtual-host (shortstr), reserved-1 (shortstr), reserved-2 (bit).
        sock.sendall(method_frame(OPEN, shortstr(vhost) + shortstr("") + b"\x00"))
        expect(OPEN_OK, f"access to vhost {vhost!r} (Connection.Open-Ok)")

        # 1.4.2.9 Close: reply-code 200, reply-text, class-id 0, method-id 0 (a normal close).
        close = struct.pack("!H", 200) + shortstr("health check") + struct.pack("!HH", 0, 0)
        sock.sendall(method_frame(CLOSE, close))
        expect(CLOSE_OK, "Connection.Close-Ok")
    finally:
        sock.close()


class RabbitMQBackend(BaseHealthCheckBackend):
    def __init__(
        self,
        url: str | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if url is None:
            url = getattr(settings, "BROKER_URL", None) or getattr(
                settings, "CELERY_BROKER_URL", None
            )
        self.url = url
        self.socket_timeout = socket_timeout

    def _where(self) -> str:
        """host:port/vhost, never the credentials."""
        try:
            conf = parse_url(self.url or "")
        except (AMQPError, ValueError):
            return "?"
        return f"{conf['host']}:{conf['port']}/{conf['vhost']}"

    def identifier(self) -> str:
        if not self.url:
            return type(self).__name__
        return f"{type(self).__name__}[{self._where()}]"

    def check_status(self) -> None:
        if not self.url:
            raise ServiceUnavailable(
                "no broker URL: set settings.BROKER_URL or CELERY_BROKER_URL, or the url kwarg"
            )
        try:
            conf = parse_url(self.url)
        except (AMQPError, ValueError) as e:
            raise ServiceUnavailable(f"invalid broker URL: {e}") from e
        where = self._where()
        try:
            handshake(**conf, timeout=self.socket_timeout)
        except AMQPError as e:
            raise ServiceUnavailable(f"{where}: {e}") from e
        except TimeoutError as e:  # before OSError: socket.timeout is a subclass of it
            raise ServiceUnavailable(f"{where}: no answer within {self.socket_timeout} s") from e
        except ConnectionRefusedError as e:
            raise ServiceUnavailable(f"{where}: connection refused") from e
        except ssl.SSLError as e:
            raise ServiceUnavailable(f"{where}: TLS error: {e}") from e
        except OSError as e:  # DNS, unreachable, reset
            raise ServiceUnavailable(f"{where}: {type(e).__name__}: {e}") from e
        except (struct.error, IndexError) as e:  # a truncated method frame
            raise ServiceReturnedUnexpectedResult(f"{where}: malformed AMQP frame: {e}") from e
