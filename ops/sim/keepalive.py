"""werkzeug's WSGI request handler, keeping each connection open for the client's next request.

werkzeug's development server closes every connection after one answer (it cannot tell
where a body the application left unread ends). Against the persistent account's server
that meant a TCP connection, a server thread and a handshake for each of a dry run's ~170
calls: about 0.6 ms of the server's CPU each, a sixth of a small call's whole cost. Here the handler reads
each request's body whole before the application runs (Content-Length, or chunked), so the
next request starts where this one ended, and sends each answer with its length, so the
client knows where it ends. Clients reuse the connection through their pool (botocore's,
with TCP_NODELAY: two writes per request, and Nagle's algorithm against delayed ACKs would
hold each second write for 40 ms).

What a client sends with `Connection: close`, or a request the application fails on, closes
the connection as before.
"""

import io
import sys
import traceback
from typing import Any, List, Optional, Tuple

from werkzeug.serving import WSGIRequestHandler

_HOP_BY_HOP = frozenset(("connection", "content-length", "keep-alive", "transfer-encoding"))
_NO_BODY = (204, 304)


class KeepAliveHandler(WSGIRequestHandler):
    disable_nagle_algorithm = True  # an answer goes at once, never held behind an unacknowledged one

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's DechunkedInput reads to its end
            body = environ["wsgi.input"].read()
        elif environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        else:
            body = b""
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        started: List[Any] = []
        written: List[bytes] = []

        def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Optional[tuple] = None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        try:
            result = self.server.app(environ, start_response)
            try:
                written.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = started
        except Exception:  # noqa: BLE001 - as werkzeug does: a 500, and the traceback in the log
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            status, headers, written = "500 Internal Server Error", [("Content-Type", "text/plain")], [b"error"]
        code = int(status.split(" ", 1)[0])
        answer = b"".join(written)
        without_body = self.command == "HEAD" or code in _NO_BODY
        head = [f"{self.protocol_version} {status}"]
        head += [
            f"{name}: {value}"
            for name, value in headers
            if name.lower() not in _HOP_BY_HOP or (without_body and name.lower() == "content-length")
        ]
        if not without_body:
            head.append(f"Content-Length: {len(answer)}")
        if self.close_connection:
            head.append("Connection: close")
        head.append("\r\n")
        # one write: the head and the body in one segment
        self.wfile.write("\r\n".join(head).encode("latin-1") + (b"" if without_body else answer))
