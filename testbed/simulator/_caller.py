"""Who is asking: the authenticated client, its organization, the professional and the purpose of use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity behind one request (spec §5 "Who is asking").

    Attributes:
        client_id: The OAuth client, or None in open mode.
        organization: The INPE of the client's organization, or None in open mode.
        user_inpe: The professional named by the user header, if any.
        purpose: The purpose of use (v3-ActReason code); ``TREAT`` unless the purpose header says otherwise.
        btg: Break the glass was asked for.
        principal: The verified token's principal (None in open mode: everything allowed).
        address: The client's network address.
    """

    client_id: str | None
    organization: str | None
    user_inpe: str | None
    purpose: str
    btg: bool
    principal: Any
    address: str

    def allows(self, rtype: str, mode: str) -> bool:
        """Whether the token's scopes allow ``mode`` (``read``/``write``) on ``rtype``."""
        if self.principal is None:
            return True
        return bool(self.principal.allows(rtype, mode))


SYSTEM = Caller(None, None, None, "TREAT", False, None, "local")
"""The SMR itself (HL7 v2 feeds are recorded under the sending facility instead when known)."""
