"""Errors of the security layer (all are clean ``TestbedError`` subclasses, never tracebacks).

::

    TestbedError
    ├── AuthError              a request is not authorized (HTTP 401 / 403); carries the OAuth error code
    ├── AuthDiscoveryError     no token endpoint could be discovered from a base URL
    ├── TokenRequestError      a token endpoint refused a token request, or answered nonsense
    └── TlsError               a certificate authority or key file cannot be used
"""

from __future__ import annotations

from testbed.core.errors import TestbedError


class AuthError(TestbedError):
    """A request is not authorized: ``status`` is 401 (no valid token) or 403 (token lacks a scope).

    ``error`` is the RFC 6750 code (``invalid_token``, ``insufficient_scope``, ``invalid_request``),
    empty when the request carried no credentials at all (RFC 6750 §3.1: then no error code is sent).
    """

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error or 'unauthorized'}: {description}")
        self.status = status
        self.error = error
        self.description = description

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` header value to send with the 401/403 response (RFC 6750 §3)."""
        if not self.error:
            return 'Bearer realm="testbed"'
        description = self.description.replace("\\", "").replace('"', "'")
        return f'Bearer realm="testbed", error="{self.error}", error_description="{description}"'


class AuthDiscoveryError(TestbedError):
    """No token endpoint could be discovered; the message names every URL tried and what it answered."""


class TokenRequestError(TestbedError):
    """A token request was refused (``status``, ``error``) or the answer was not a token response."""

    def __init__(self, message: str, *, status: int | None = None, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class TlsError(TestbedError):
    """A certificate authority, certificate or key file cannot be used."""
