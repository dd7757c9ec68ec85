"""The FHIR interactions of the simulated SMR, routed from method and path (under the base URL)."""

from __future__ import annotations

import logging
import re

from testbed.simulator._audit import Entity
from testbed.simulator._caller import Caller
from testbed.simulator._context import Ctx, FhirRequest
from testbed.simulator._index import PARAMS, READ_ONLY
from testbed.simulator._outcome import FhirError, Reply, operation_outcome
from testbed.simulator._reads import form_params, history, read, search, vread
from testbed.simulator._transaction import Transactions
from testbed.simulator._writes import Writes

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_INTERACTION = {
    ("POST", 1): "create",
    ("GET", 1): "search-type",
    ("POST", 2): "search-type",
    ("GET", 2): "read",
    ("PUT", 2): "update",
    ("DELETE", 2): "delete",
    ("GET", 3): "history-instance",
    ("GET", 4): "vread",
}


def _not_allowed(allowed: str, message: str, expression: str) -> FhirError:
    return FhirError(405, "not-supported", message, expression, headers={"Allow": allowed})


class FhirService:
    """Routes a request to its interaction; errors become OperationOutcomes (and are audited)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.writes = Writes(ctx)
        self.transactions = Transactions(ctx, self.writes, self.dispatch)

    def dispatch(self, req: FhirRequest, caller: Caller) -> Reply:
        """Answer one FHIR request (never raises for a client's mistake)."""
        try:
            return self._route(req, caller)
        except FhirError as err:
            if not err.audited and err.status in (403, 404, 409, 410, 412, 422):
                self._audit_failure(req, caller, err)
            return err.reply()

    def _route(self, req: FhirRequest, caller: Caller) -> Reply:
        parts, method = req.parts, req.method
        if not parts:
            if method == "POST":
                return self.transactions.handle(req, caller)
            raise _not_allowed(
                "POST", "The base URL takes only POST of a transaction or batch Bundle.", "Bundle"
            )
        rtype = parts[0]
        if rtype == "Bundle":
            raise _not_allowed(
                "", "Bundles are not stored: POST a transaction or batch Bundle to the base URL.", "Bundle"
            )
        if rtype not in PARAMS:
            raise FhirError(
                404, "not-supported", f"'{rtype}' is not a resource type this SMR serves.", "Resource"
            )
        if len(parts) == 1:
            if method == "GET":
                return search(self.ctx, req, caller, rtype, req.params)
            if method == "POST":
                self._writable(rtype, "GET")
                return self.writes.create(req, caller, rtype)
            raise _not_allowed("GET, POST", f"{method} is not allowed on [base]/{rtype}.", rtype)
        if parts[1] == "_search":
            if len(parts) == 2 and method == "POST":
                return search(self.ctx, req, caller, rtype, form_params(req))
            raise _not_allowed("POST", f"{method} is not allowed on [base]/{rtype}/_search.", rtype)
        rid = parts[1]
        if not _ID.match(rid):
            raise FhirError(404, "not-found", f"'{rid}' is not a FHIR resource id.", f"{rtype}.id")
        if len(parts) == 2:
            if method == "GET":
                return read(self.ctx, req, caller, rtype, rid)
            if method == "PUT":
                self._writable(rtype, "GET")
                return self.writes.update(req, caller, rtype, rid)
            if method == "DELETE":
                self._writable(rtype, "GET")
                return self.writes.delete(req, caller, rtype, rid)
            allowed = "GET" if rtype in READ_ONLY else "GET, PUT, DELETE"
            raise _not_allowed(allowed, f"{method} is not allowed on [base]/{rtype}/[id].", rtype)
        if parts[2] == "_history" and len(parts) in (3, 4):
            if method != "GET":
                raise _not_allowed("GET", f"{method} is not allowed on a history.", rtype)
            if len(parts) == 3:
                return history(self.ctx, req, caller, rtype, rid)
            return vread(self.ctx, req, caller, rtype, rid, parts[3])
        raise FhirError(404, "not-found", f"No FHIR interaction lives at '{'/'.join(parts)}'.", rtype)

    @staticmethod
    def _writable(rtype: str, allowed: str) -> None:
        if rtype in READ_ONLY:
            raise _not_allowed(
                allowed,
                f"{rtype} resources are written by the SMR only; they cannot be created, changed or deleted "
                "through the API (the audit trail is immutable).",
                rtype,
            )

    def _audit_failure(self, req: FhirRequest, caller: Caller, err: FhirError) -> None:
        interaction = _INTERACTION.get(
            (req.method, min(len(req.parts), 4)), "transaction" if not req.parts else "read"
        )
        entity = (
            Entity(f"{req.parts[0]}/{req.parts[1]}")
            if len(req.parts) >= 2 and _ID.match(req.parts[1])
            else None
        )
        label = req.parts[0] if req.parts else "Bundle"
        try:
            self.ctx.audit(
                caller,
                interaction,
                [entity or Entity(label=label)],
                err.status,
                err.message[:200],
                defer=req.pending,
            )
        except Exception:  # noqa: BLE001 - the reply still goes out; the log says the audit failed
            log.exception("could not record the AuditEvent of a refused request")


def internal_error(exc: BaseException) -> Reply:
    """A 500 reply that says the SMR failed, without internals."""
    return Reply(
        500,
        operation_outcome(
            [
                {
                    "severity": "fatal",
                    "code": "exception",
                    "diagnostics": f"The simulated SMR failed while answering ({type(exc).__name__}); "
                    "this is a testbed defect, not a verdict on the request.",
                    "expression": ["Resource"],
                }
            ]
        ),
    )
