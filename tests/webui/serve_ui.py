#!/usr/bin/env python3
"""Serves the built AgentScope web UI (its dist/ files) for scripts/webui-test.sh, and, with
--api URL, is also a reverse proxy to the API at URL, so the UI reaches the API on its own
origin (its Server URL set to this server's).

The UI builds every API URL as new URL(path, server_url), so the API must sit at the root of
its origin; and some of the UI's own pages (/credential, /schedule) share names with API routes.
So requests are told apart as a browser makes them: files that exist, and page loads (GET or
HEAD accepting text/html), are the UI's; everything else (the UI's fetch calls) goes to the API.

    serve_ui.py DIST_DIR [--api http://127.0.0.1:8080] [--port 0]

Prints "serving on http://127.0.0.1:PORT" (flushed) once it accepts connections. Paths that
are not files get index.html (the UI routes in the browser). Standard library only.
"""
import argparse
import http.client
import http.server
import os
import sys
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host", "content-length"}


def make_handler(root, api):
    api_url = urllib.parse.urlsplit(api) if api else None

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, fmt, *args):  # quiet; the test prints what matters
            pass

        def _proxy(self):
            path = self.path
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(api_url.hostname, api_url.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn.request(self.command, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() in HOP:
                    continue
                if k.lower() == "location":
                    # The API's redirects name the API's address: point them back here.
                    u = urllib.parse.urlsplit(v)
                    v = (u.path or "/") + (("?" + u.query) if u.query else "")
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        def _route(self):
            local = self.translate_path(self.path)
            is_file = self.path != "/" and os.path.isfile(local)
            page = self.command in ("GET", "HEAD") and "text/html" in self.headers.get("accept", "")
            if api_url and not is_file and not page:
                return self._proxy()
            if self.command not in ("GET", "HEAD"):
                self.send_error(405)
                return
            if not is_file:
                self.path = "/index.html"
            return super().do_GET() if self.command == "GET" else super().do_HEAD()

        do_GET = do_HEAD = do_POST = do_PATCH = do_DELETE = do_PUT = do_OPTIONS = _route

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--api")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.root, args.api))
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
