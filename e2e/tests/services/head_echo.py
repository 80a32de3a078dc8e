"""A local service for the gateway's tests that looks at request heads as a development
server does, run as its own process.

  GET /echo          200; the body lists the request's header lines as received, one
                     `name: value` per line, in order
  GET /fields/N      200 with N extra response header fields `x-field-I: I`
  GET /big/N         200 with one response header field whose value is N bytes

Like Vite and Jupyter it answers 403 "This host is not allowed" to a Host it doesn't
know: its own address (127.0.0.1:PORT or localhost:PORT) and the names given with
--allow. It prints `listening PORT` once it accepts connections.
"""

import argparse
import http.client
import http.server
import sys

# The standard library refuses more than 100 request header fields; the gateway's limit
# is the head's size, so the service must not be the one to refuse.
http.client._MAXHEADERS = 100_000


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    allowed = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("host") not in self.allowed:
            return self.answer(403, b"This host is not allowed.\n")
        parts = self.path.strip("/").split("/")
        if parts[0] == "echo":
            lines = "".join(f"{name.lower()}: {value}\n" for name, value in self.headers.items())
            return self.answer(200, lines.encode())
        if parts[0] == "fields":
            fields = [(f"x-field-{i}", str(i)) for i in range(int(parts[1]))]
            return self.answer(200, b"ok", fields)
        if parts[0] == "big":
            return self.answer(200, b"ok", [("x-big", "b" * int(parts[1]))])
        return self.answer(404, b"not found\n")

    def answer(self, status, body, fields=()):
        self.send_response(status)
        for name, value in fields:
            self.send_header(name, value)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--allow", action="append", default=[])
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    Handler.allowed = {f"127.0.0.1:{port}", f"localhost:{port}", *args.allow}
    print(f"listening {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
