"""The assertions a step's ``expect`` list can hold, registered by name.

Each check is a function ``check(ctx, args) -> Detail | None`` named after the property it asserts; it
raises :class:`~testbed.scenarios.results.StepFailure` when the system under test is wrong and
:class:`~testbed.scenarios.results.StepError` when it cannot judge. ``ctx`` is a :class:`CheckContext`:
the subject exchange (the reply of a request the testbed sent, or the request a client sent to the
simulator) and the runtime services (validator, FHIRPath, requests for effect checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from testbed.scenarios.exchange import Exchange
from testbed.scenarios.results import IssueRecord, StepError, StepFailure


@dataclass(slots=True)
class Detail:
    """What a passing check wants kept: a note, validator issues, exchanges it made."""

    message: str = ""
    issues: list[IssueRecord] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)


class Runtime(Protocol):
    """The services of a running scenario that checks may use."""

    step_started: float
    audit_wait: float

    def evaluate_fhirpath(self, expression: str, resource: Any) -> list[Any]: ...

    def validate_resource(self, resource: dict[str, Any], profile: str | None) -> list[IssueRecord]: ...

    def fetch(
        self, method: str, path: str, *, client: str = "primary", headers: dict[str, str] | None = None
    ) -> Exchange: ...

    def inbound_evidence(self) -> list[Exchange]: ...

    def secrets(self) -> list[str]: ...


@dataclass(slots=True)
class CheckContext:
    """The subject of the assertions of one step and the runtime they may call."""

    subject: Exchange | None
    direction: str
    runtime: Runtime
    step_kind: str

    def require_subject(self) -> Exchange:
        if self.subject is None:
            raise StepError("this assertion needs an exchange, and the step made or matched none")
        return self.subject

    def body(self) -> Any:
        """The JSON body in the assertion's direction."""
        ex = self.require_subject()
        return ex.request_json() if self.direction == "request" else ex.reply_json()

    def resource(self) -> dict[str, Any]:
        """The body as a FHIR resource; a fail when it is not one."""
        body = self.body()
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise StepFailure(
                f"the {self.direction} body is not a FHIR resource (JSON object with resourceType)",
                received=_describe_body(self.require_subject(), self.direction),
            )
        return body


Check = Callable[[CheckContext, Any], Detail | None]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    """Register a check under ``name`` (the key used in scenario files); names are unique."""

    def register(func: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        CHECKS[name] = func
        return func

    return register


def _describe_body(ex: Exchange, direction: str) -> str:
    part = ex.request if direction == "request" else (ex.response or {})
    body = part.get("body") or {}
    value = body.get("value")
    text = str(value) if value is not None else body.get("format", "empty")
    return text if len(text) < 300 else text[:297] + "..."


def _range_ok(value: int, expected: Any) -> bool:
    if isinstance(expected, int):
        return value == expected
    low, high = expected.get("min"), expected.get("max")
    return (low is None or value >= low) and (high is None or value <= high)


def _range_text(expected: Any) -> str:
    if isinstance(expected, int):
        return str(expected)
    parts = []
    if "min" in expected:
        parts.append(f">= {expected['min']}")
    if "max" in expected:
        parts.append(f"<= {expected['max']}")
    return " and ".join(parts)


# --- HTTP ---------------------------------------------------------------------------------------


@check("status")
def status_is_expected(ctx: CheckContext, args: Any) -> Detail | None:
    """The HTTP status of the reply is one of the expected codes."""
    ex = ctx.require_subject()
    expected = [args] if isinstance(args, int) else list(args)
    if ex.response is None:
        raise StepFailure(f"no reply: {ex.error}", expected=expected, received=None)
    if ex.status not in expected:
        raise StepFailure(
            f"Received: HTTP {ex.status}\nExpected: HTTP {' or '.join(map(str, expected))}\n"
            f"Body: {_describe_body(ex, 'response')}",
            expected=expected,
            received=ex.status,
        )
    return None


@check("header")
def header_is_present(ctx: CheckContext, args: Any) -> Detail | None:
    """A header is present (or absent), optionally matching a regular expression."""
    spec = {"name": args} if isinstance(args, str) else dict(args)
    ex = ctx.require_subject()
    value = ex.header(spec["name"], direction=ctx.direction)
    if not spec.get("present", True):
        if value is not None:
            raise StepFailure(f"header {spec['name']} is present ({value!r}) and must not be", received=value)
        return None
    if value is None:
        raise StepFailure(f"header {spec['name']} is missing from the {ctx.direction}", expected=spec["name"])
    pattern = spec.get("matches")
    if pattern and re.search(pattern, value) is None:
        raise StepFailure(
            f"header {spec['name']}: {value!r} does not match {pattern!r}", expected=pattern, received=value
        )
    return None


@check("refused")
def connection_is_refused(ctx: CheckContext, args: Any) -> Detail | None:
    """The server refused the request: no reply at all, or an error status that is not a redirect."""
    ex = ctx.require_subject()
    if ex.response is None:
        return Detail(message=f"refused: {ex.error}")
    status = int(ex.status or 0)
    if 300 <= status < 400:
        raise StepFailure(
            f"the server redirected (HTTP {status} to {ex.header('Location')}) instead of "
            "refusing: the request already crossed",
            received=status,
        )
    if status < 400:
        raise StepFailure(f"the server accepted the connection and answered HTTP {status}", received=status)
    return Detail(message=f"refused with HTTP {status}")


@check("no_secret_echo")
def reply_echoes_no_secret(ctx: CheckContext, args: Any) -> Detail | None:
    """The reply carries none of the credentials the testbed sent (token, client assertion)."""
    ex = ctx.require_subject()
    raw = ex.raw_reply.decode("utf-8", "replace")
    headers = " ".join(f"{k}: {v}" for k, v in ((ex.response or {}).get("headers") or {}).items())
    for secret in ctx.runtime.secrets():
        if secret and (secret in raw or secret in headers):
            raise StepFailure("the reply echoes the access token the testbed sent")
    return None


# --- FHIR content -------------------------------------------------------------------------------


@check("resource_type")
def resource_type_is_expected(ctx: CheckContext, args: Any) -> Detail | None:
    """The body is a resource of the expected type."""
    resource = ctx.resource()
    if resource["resourceType"] != args:
        raise StepFailure(
            f"Received: {resource['resourceType']}\nExpected: {args}",
            expected=args,
            received=resource["resourceType"],
        )
    return None


_TYPE_SUFFIX = re.compile(
    r"(?<=[a-z])(Boolean|Integer|Decimal|Base64Binary|Instant|String|Uri|Url|Canonical|Date|DateTime|Time|Code"
    r"|Oid|Id|Markdown|UnsignedInt|PositiveInt|Uuid|Address|Age|Annotation|Attachment|CodeableConcept|Coding"
    r"|ContactPoint|Count|Distance|Duration|HumanName|Identifier|Money|Period|Quantity|Range|Ratio|Reference"
    r"|SampledData|Signature|Timing|Dosage|Meta)(?=$|[.\[])"
)


def _norm_path(path: str) -> str:
    """A FHIRPath location without spaces, ``.ofType(T)`` or a choice type's suffix (``valueQuantity``)."""
    path = re.sub(r"\.ofType\([A-Za-z]+\)", "", path.replace(" ", ""))
    return _TYPE_SUFFIX.sub("", path)


def paths_match(expected: str, found: str) -> bool:
    """Whether an issue at ``found`` points at the ``expected`` element.

    Equal paths match; so does one path inside the other when the shorter names at least one element
    below the resource type; and so does the direct parent of the expected element (a missing element
    is reported on the element that should hold it: ``Patient`` for a missing ``Patient.birthDate``).
    """
    a, b = _norm_path(expected), _norm_path(found)
    if a == b:
        return True
    if a.startswith(b) and a[len(b)] in ".[" and "." not in a[len(b) + 1 :].lstrip("[0123456789]."):
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return "." in short and long_.startswith(short) and long_[len(short)] in ".["


@check("outcome")
def operation_outcome_explains(ctx: CheckContext, args: Any) -> Detail | None:
    """The body is an OperationOutcome with an issue of the expected severity, code and expression."""
    resource = ctx.resource()
    if resource["resourceType"] != "OperationOutcome":
        raise StepFailure(
            f"the reply is a {resource['resourceType']}, not an OperationOutcome",
            expected="OperationOutcome",
            received=resource["resourceType"],
        )
    issues = [i for i in resource.get("issue") or [] if isinstance(i, dict)]
    if not issues:
        raise StepFailure("the OperationOutcome has no issue")
    severities = args.get("severity") or ["fatal", "error"]
    chosen = [i for i in issues if i.get("severity") in severities]
    if not chosen:
        raise StepFailure(
            f"no issue of severity {' or '.join(severities)}", received=[i.get("severity") for i in issues]
        )
    codes = args.get("code")
    if codes and not any(i.get("code") in codes for i in chosen):
        raise StepFailure(
            f"no {'/'.join(severities)} issue has code {' or '.join(codes)}",
            expected=codes,
            received=[i.get("code") for i in chosen],
        )
    expected = args.get("expression")
    if expected:
        found = [
            e for i in chosen for e in (i.get("expression") or i.get("location") or []) if isinstance(e, str)
        ]
        if not any(paths_match(expected, e) for e in found):
            raise StepFailure(
                f"no issue points at {expected}\nReceived expressions: {found or 'none'}",
                expected=expected,
                received=found,
                location=expected,
            )
    if args.get("complete"):
        bad = [
            n
            for n, i in enumerate(issues)
            if not i.get("severity") or not i.get("code") or not (i.get("expression") or [])
        ]
        if bad:
            raise StepFailure(
                "issue(s) "
                + ", ".join(f"OperationOutcome.issue[{n}]" for n in bad)
                + " lack a severity, a code or an expression",
                received=[issues[n] for n in bad],
            )
    return None


def entry_resources(
    resource: dict[str, Any], modes: tuple[str, ...] = ("match", "include")
) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries whose search mode is one of ``modes`` (no mode = match)."""
    found = []
    for entry in resource.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        mode = (entry.get("search") or {}).get("mode", "match")
        if mode in modes:
            found.append(entry["resource"])
    return found


@check("conforms")
def resources_conform_to_profiles(ctx: CheckContext, args: Any) -> Detail | None:
    """Every resource in the body (each entry of a Bundle) conforms to its MA profile."""
    resource = ctx.resource()
    spec = args if isinstance(args, dict) else {}
    if resource["resourceType"] == "Bundle" and resource.get("type") in (
        "searchset",
        "history",
        "collection",
    ):
        targets = entry_resources(resource, ("match", "include"))
    else:
        targets = [resource]
    if spec.get("resource_type"):
        targets = [t for t in targets if t.get("resourceType") == spec["resource_type"]]
    all_issues: list[IssueRecord] = []
    errors = []
    for n, target in enumerate(targets):
        issues = ctx.runtime.validate_resource(target, spec.get("profile"))
        label = f"{target.get('resourceType')}/{target.get('id', n)}"
        for issue in issues:
            all_issues.append(
                IssueRecord(
                    issue.severity,
                    issue.code,
                    f"{label}: {issue.location}".rstrip(": "),
                    issue.message,
                    issue.rule,
                )
            )
            if issue.severity in ("fatal", "error"):
                errors.append(f"{label} {issue.location}: {issue.message}")
    if errors:
        shown = "\n".join(errors[:10]) + (f"\n... and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise StepFailure(f"{len(errors)} error(s) against the MA profiles:\n{shown}", issues=all_issues)
    return Detail(message=f"{len(targets)} resource(s) conform", issues=all_issues)


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, Decimal):
        try:
            return value == Decimal(str(expected))
        except ArithmeticError:
            return False
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected or str(value) == str(expected)


@check("fhirpath")
def fhirpath_holds(ctx: CheckContext, args: Any) -> Detail | None:
    """A FHIRPath expression on the body is true (or equals, counts, exists as told)."""
    spec = {"expression": args} if isinstance(args, str) else dict(args)
    resource = ctx.resource()
    result = ctx.runtime.evaluate_fhirpath(spec["expression"], resource)
    shown = result if len(str(result)) < 300 else str(result)[:297] + "..."
    if "equals" in spec:
        if len(result) != 1 or not _same(result[0], spec["equals"]):
            raise StepFailure(
                f"{spec['expression']}\nReceived: {shown}\nExpected: {spec['equals']!r}",
                expected=spec["equals"],
                received=result,
            )
    elif "count" in spec:
        if not _range_ok(len(result), spec["count"]):
            raise StepFailure(
                f"{spec['expression']} gives {len(result)} item(s); expected {_range_text(spec['count'])}",
                expected=spec["count"],
                received=len(result),
            )
    elif "exists" in spec:
        if bool(result) != bool(spec["exists"]):
            raise StepFailure(
                f"{spec['expression']} {'gives nothing' if spec['exists'] else f'gives {shown}'}",
                expected=spec["exists"],
                received=result,
            )
    elif result != [True]:
        raise StepFailure(f"{spec['expression']} is not true\nReceived: {shown}", received=result)
    return None


@check("bundle")
def bundle_is_as_expected(ctx: CheckContext, args: Any) -> Detail | None:
    """A Bundle has the expected type, total, entry count, next link, and per-entry properties."""
    resource = ctx.resource()
    if resource["resourceType"] != "Bundle":
        raise StepFailure(
            f"the body is a {resource['resourceType']}, not a Bundle", received=resource["resourceType"]
        )
    if "type" in args and resource.get("type") != args["type"]:
        raise StepFailure(
            f"Bundle.type is {resource.get('type')!r}; expected {args['type']!r}",
            expected=args["type"],
            received=resource.get("type"),
        )
    if "total" in args:
        total = resource.get("total")
        if not isinstance(total, int) or not _range_ok(total, args["total"]):
            raise StepFailure(
                f"Bundle.total is {total!r}; expected {_range_text(args['total'])}",
                expected=args["total"],
                received=total,
            )
    entries = [e for e in resource.get("entry") or [] if isinstance(e, dict)]
    if "entries" in args and not _range_ok(len(entries), args["entries"]):
        raise StepFailure(
            f"the Bundle has {len(entries)} entries; expected {_range_text(args['entries'])}",
            expected=args["entries"],
            received=len(entries),
        )
    matches = entry_resources(resource, ("match",))
    if "matches" in args and not _range_ok(len(matches), args["matches"]):
        raise StepFailure(
            f"the Bundle has {len(matches)} matching entries; expected {_range_text(args['matches'])}",
            expected=args["matches"],
            received=len(matches),
        )
    if "next" in args:
        has_next = any(
            isinstance(link, dict) and link.get("relation") == "next" for link in resource.get("link") or []
        )
        if has_next != args["next"]:
            raise StepFailure(
                f"the Bundle {'has no' if args['next'] else 'has a'} next link",
                expected=args["next"],
                received=has_next,
            )
    if "every" in args:
        for n, res in enumerate(matches):
            if ctx.runtime.evaluate_fhirpath(args["every"], res) != [True]:
                raise StepFailure(
                    f"matching entry {n + 1} ({res.get('resourceType')}/{res.get('id')}) fails "
                    f"{args['every']}",
                    location=f"Bundle.entry[{n}]",
                )
    if "none" in args:
        for n, res in enumerate(entry_resources(resource, ("match", "include"))):
            if ctx.runtime.evaluate_fhirpath(args["none"], res) == [True]:
                raise StepFailure(
                    f"entry {res.get('resourceType')}/{res.get('id')} satisfies {args['none']}, "
                    "and no entry may",
                    location=f"Bundle.entry[{n}]",
                )
    return None


def json_value(body: Any, path: str) -> tuple[bool, Any]:
    """The value at a dotted path (``a.b[0].c``) of a JSON body: (found, value)."""
    node = body
    for part in re.findall(r"[^.\[\]]+|\[[0-9]+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return False, None
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


@check("json")
def json_value_is_expected(ctx: CheckContext, args: Any) -> Detail | None:
    """A value of a JSON body (not necessarily a FHIR resource) exists, equals, matches or contains."""
    body = ctx.body()
    if body is None:
        raise StepFailure(
            f"the {ctx.direction} body is not JSON",
            received=_describe_body(ctx.require_subject(), ctx.direction),
        )
    found, value = json_value(body, args["path"])
    if args.get("exists", True) is False:
        if found:
            raise StepFailure(f"{args['path']} is present ({value!r}) and must not be", received=value)
        return None
    if not found:
        raise StepFailure(f"{args['path']} is missing from the {ctx.direction} body", expected=args["path"])
    if "equals" in args and not _same(value, args["equals"]):
        raise StepFailure(
            f"{args['path']}\nReceived: {value!r}\nExpected: {args['equals']!r}",
            expected=args["equals"],
            received=value,
        )
    if "matches" in args and (not isinstance(value, str) or re.search(args["matches"], value) is None):
        raise StepFailure(
            f"{args['path']}: {value!r} does not match {args['matches']!r}",
            expected=args["matches"],
            received=value,
        )
    if "contains" in args:
        items = value if isinstance(value, list) else str(value).split()
        wanted = args["contains"] if isinstance(args["contains"], list) else [args["contains"]]
        missing = [w for w in wanted if w not in items]
        if missing:
            raise StepFailure(f"{args['path']} lacks {missing}", expected=wanted, received=value)
    return None


# assertions kept in modules of their own register themselves when imported
from testbed.scenarios import checks_v2 as _checks_v2  # noqa: E402, F401 - HL7 v2 ACKs, cross-standard
