"""SMART v1 system scopes (``system/<Type>.read|write|*``) and the principal a valid token stands for."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from testbed.security.errors import AuthError

Mode = Literal["read", "write"]

_SCOPE = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<mode>read|write|\*)")


def parse_scope(scope: str) -> tuple[str, str] | None:
    """Split a SMART v1 system scope into (type or ``*``, ``read``/``write``/``*``); None if it is not one."""
    match = _SCOPE.fullmatch(scope)
    if match is None:
        return None
    return match["type"], match["mode"]


def split_scopes(text: str) -> list[str]:
    """The scopes of a space-delimited ``scope`` parameter (RFC 6749 §3.3), in order, without duplicates."""
    return list(dict.fromkeys(text.split()))


def scope_covers(granted: str, wanted: str) -> bool:
    """Whether the granted scope includes the wanted one (``system/*.read`` ⊇ ``system/Patient.read``)."""
    g, w = parse_scope(granted), parse_scope(wanted)
    if g is None or w is None:
        return granted == wanted
    type_ok = g[0] == "*" or g[0] == w[0]
    mode_ok = g[1] == "*" or g[1] == w[1]
    return type_ok and mode_ok


def covered(wanted: str, granted: Iterable[str]) -> bool:
    """Whether any of the granted scopes covers ``wanted``."""
    return any(scope_covers(g, wanted) for g in granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the registered backend client, its organization's INPE, and the token's scopes."""

    client_id: str
    organization_inpe: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    def allows(self, resource_type: str, mode: Mode) -> bool:
        """Whether the scopes allow ``mode`` (``read`` or ``write``) on ``resource_type``.

        ``system/*.read``, ``system/Patient.*`` and ``system/*.*`` are understood; anything that is not
        a SMART v1 system scope grants nothing.
        """
        if mode not in ("read", "write"):
            raise ValueError(f"mode must be 'read' or 'write', not {mode!r}")
        for scope in self.scopes:
            parsed = parse_scope(scope)
            if parsed and parsed[0] in ("*", resource_type) and parsed[1] in ("*", mode):
                return True
        return False

    def require(self, resource_type: str, mode: Mode) -> None:
        """Raise ``AuthError(403, "insufficient_scope")`` unless :meth:`allows` is true."""
        if not self.allows(resource_type, mode):
            raise AuthError(
                403,
                "insufficient_scope",
                f"the token's scopes do not include system/{resource_type}.{mode}",
            )
