"""A WSGI app for gunicorn (Python's standard library only), laid out as Django's `shop.wsgi`:
`python3 -m gunicorn --bind 127.0.0.1:$PORT shop.wsgi` serves `application`.

The version is the REVISION file of the working directory, read when a worker loads this module:
after `kill -HUP` on gunicorn's master, new workers load the code (and REVISION) of the release
`current` points at, while the master keeps the environment it started with ($APP_VERSION too).

Endpoints: GET /health, GET /version, GET /, GET /slow?ms=2000, POST /echo; anything else 404.
Every response carries X-App-Version.
"""
import os
import time
from urllib.parse import parse_qs

with open("REVISION", encoding="utf-8") as revision:
    VERSION = revision.read().strip()

MAX_SLOW_MS = 30_000


def application(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    status, body = answer(method, path, environ)
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-App-Version", VERSION),
        ],
    )
    return [body]


def answer(method, path, environ):
    if method == "GET" and path == "/health":
        return "200 OK", b"ok"
    if method == "GET" and path == "/version":
        return "200 OK", VERSION.encode()
    if method == "GET" and path == "/":
        return "200 OK", f"shop {VERSION} on {os.environ.get('SLOT', 'none')}, pid {os.getpid()}\n".encode()
    if method == "GET" and path == "/slow":
        asked = parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["2000"])[0]
        ms = min(MAX_SLOW_MS, max(0, int(asked))) if asked.isdigit() else 2000
        time.sleep(ms / 1000)
        return "200 OK", b"slow\n"
    if method == "POST" and path == "/echo":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        return "200 OK", environ["wsgi.input"].read(size)
    return "404 Not Found", b"not found\n"
