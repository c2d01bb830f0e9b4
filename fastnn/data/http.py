"""HTTP(S) downloads with two timeouts: one to connect, one for each wait for data.

urllib has a single timeout; these handlers set the socket's read timeout once the
connection is made, so a slow connect and a stalled transfer are bounded separately.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any


class _ReadTimeoutMixin:
    """After connecting (under the connect timeout), wait at most ``read_timeout`` for each read."""

    sock: Any

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self._read_timeout)


class _HTTPConnection(_ReadTimeoutMixin, http.client.HTTPConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self._read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, read_timeout=self._read_timeout)  # type: ignore[arg-type]


def build_opener(read_timeout: float) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [_HTTPHandler(read_timeout)]
    if hasattr(http.client, "HTTPSConnection"):  # Python built with ssl

        class _HTTPSConnection(_ReadTimeoutMixin, http.client.HTTPSConnection):
            pass

        class _HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(
                    _HTTPSConnection,  # type: ignore[arg-type]
                    req,
                    context=getattr(self, "_context", None),
                    read_timeout=read_timeout,
                )

        handlers.append(_HTTPSHandler())
    # build_opener drops the default HTTP(S) handlers these subclass; proxies, redirects kept.
    return urllib.request.build_opener(*handlers)


class MirrorError(Exception):
    """This mirror did not deliver a verified file; the message says why."""


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return describe_error(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return f"truncated response ({len(exc.partial):,} bytes, {exc.expected} more expected)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
