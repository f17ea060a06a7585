"""A TCP proxy in front of the tests' PostgreSQL that plays a pooler with Euterpe's
startup option: it drops the `options` parameter (PgBouncer with `options` in
`ignore_startup_parameters`), or refuses the connection as PgBouncer >= 1.20 does
without that setting.

It answers the client's SSL and GSSAPI requests with "no" itself, so the startup
packet arrives in clear and can be rewritten; everything after it is copied both
ways unchanged.
"""

import contextlib
import socket
import struct
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


class StartupProxy:
    """``with StartupProxy(host, port) as proxy: ... proxy.port``.

    ``host`` is the server's host name, or the directory of its unix socket.
    ``refuse=True`` answers a startup packet that carries `options` with PgBouncer's
    error instead of passing the connection on. ``startups`` records the parameters
    each connection asked for, before the rewrite.
    """

    def __init__(self, host, port, *, refuse=False):
        self.upstream_host = host or "127.0.0.1"
        self.upstream_port = int(port or 5432)
        self.refuse = refuse
        self.startups = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets = []
        self._lock = threading.Lock()

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _connect_upstream(self):
        if self.upstream_host.startswith("/"):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}")
        else:
            upstream = socket.create_connection((self.upstream_host, self.upstream_port))
        with self._lock:
            self._sockets.append(upstream)
        return upstream

    def _serve(self, client):
        try:
            packet = self._startup_packet(client)
            if packet is None:
                return
            params = _parameters(packet)
            self.startups.append(dict(params))
            if self.refuse and "options" in params:
                client.sendall(_error("08P01", "unsupported startup parameter: options"))
                return
            params.pop("options", None)
            upstream = self._connect_upstream()
            upstream.sendall(_startup(packet[4:8], params))
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            _pipe(client, upstream)
        except OSError:
            pass
        finally:
            client.close()

    def _startup_packet(self, client):
        """The client's StartupMessage, after saying no to SSL and GSSAPI encryption."""
        while True:
            header = _read(client, 4)
            if header is None:
                return None
            (length,) = struct.unpack("!i", header)
            body = _read(client, length - 4)
            if body is None:
                return None
            (code,) = struct.unpack("!i", body[:4])
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")
                continue
            return header + body


def _read(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _parameters(packet):
    fields = packet[8:].split(b"\0")
    pairs = {}
    for name, value in zip(fields[0::2], fields[1::2], strict=False):
        if not name:
            break
        pairs[name.decode()] = value.decode()
    return pairs


def _startup(protocol, params):
    body = protocol + b"".join(
        name.encode() + b"\0" + value.encode() + b"\0" for name, value in params.items()
    )
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def _error(sqlstate, message):
    fields = b"".join(
        kind + text.encode() + b"\0"
        for kind, text in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    fields += b"\0"
    return b"E" + struct.pack("!i", len(fields) + 4) + fields


def _pipe(source, destination):
    try:
        while chunk := source.recv(65536):
            destination.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, destination):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
