"""Jinja2 templating of scenario values: ``{{ patient.ins }}``, ``{{ saved.patient_id }}``, ``{{ base }}``.

Every string of a step is a template rendered in a sandbox with strict undefined names (a typo is an
*error* naming the template, never an empty string sent to the system under test). A string that is
exactly one ``{{ expression }}`` keeps the expression's value and type, so ``body: "{{ patient.resource }}"``
sends the resource itself, not its text.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from testbed.scenarios.results import StepError

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["tojson"] = _tojson
    env.filters["reference_id"] = lambda ref: str(ref).rstrip("/").split("/")[-1]
    env.filters["urlencode_value"] = lambda v: str(v).replace("|", "%7C")
    return env


_ENV = _environment()


def render(value: Any, context: Mapping[str, Any], *, where: str = "") -> Any:
    """Render every string inside ``value`` (dicts and lists are walked; other values are kept).

    Raises:
        StepError: a template is invalid or uses an undefined name (the message names both).
    """
    if isinstance(value, str):
        return render_string(value, context, where=where)
    if isinstance(value, Mapping):
        return {
            render_string(k, context, where=where) if "{" in k else k: render(v, context, where=where)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render(v, context, where=where) for v in value]
    return value


def render_string(text: str, context: Mapping[str, Any], *, where: str = "") -> Any:
    """Render one template string (see the module docstring for the single-expression rule)."""
    if "{{" not in text and "{%" not in text:
        return text
    try:
        match = _SINGLE.match(text)
        if match is not None and "{%" not in text:
            value = _ENV.compile_expression(match["expr"].strip(), undefined_to_none=False)(**context)
            if isinstance(value, jinja2.Undefined):
                str(value)  # raises UndefinedError with the name
            return copy.deepcopy(value) if isinstance(value, dict | list) else value
        return _ENV.from_string(text).render(**context)
    except jinja2.UndefinedError as exc:
        names = ", ".join(sorted(k for k in context if not k.startswith("_")))
        raise StepError(f"{where}template {text.strip()!r}: {exc.message} (available: {names})") from None
    except jinja2.TemplateError as exc:
        raise StepError(f"{where}template {text.strip()!r}: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise StepError(f"{where}template {text.strip()!r}: {type(exc).__name__}: {exc}") from None
