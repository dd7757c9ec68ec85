"""Choosing scenarios: by id, by ``-k`` keyword expression, and omit/skip decisions.

A ``-k`` expression is made of words joined by ``and``, ``or``, ``not`` and parentheses; a word matches a
scenario when it is a case-insensitive substring of its id, title, actor, transaction or a tag
(``-k "t1 and not invalid"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from testbed.core.errors import UsageError
from testbed.scenarios.model import Scenario

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def keyword_matcher(expression: str) -> Callable[[Scenario], bool]:
    """Compile a ``-k`` expression.

    Raises:
        UsageError: the expression is malformed.
    """
    tokens = _TOKEN.findall(expression)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise UsageError(f"-k {expression!r}: unexpected end of expression")
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> Callable[[str], bool]:
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda text: a(text) or b(text))(left, right)
        return left

    def parse_and() -> Callable[[str], bool]:
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda text: a(text) and b(text))(left, right)
        return left

    def parse_not() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda text: not inner(text)
        token = take()
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise UsageError(f"-k {expression!r}: missing ')'")
            return inner
        if token in (")", "and", "or"):
            raise UsageError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda text: word in text

    if not tokens:
        raise UsageError("-k needs an expression")
    matcher = parse_or()
    if pos != len(tokens):
        raise UsageError(f"-k {expression!r}: unexpected {tokens[pos]!r}")

    def matches(scenario: Scenario) -> bool:
        text = " ".join(
            [scenario.id, scenario.title, scenario.actor, scenario.transaction or "", *scenario.tags]
        )
        return matcher(text.lower())

    return matches


def select(
    scenarios: Sequence[Scenario], *, ids: Iterable[str] = (), keyword: str | None = None
) -> list[Scenario]:
    """The scenarios named by ``ids`` (all when none) that match ``keyword``.

    Raises:
        UsageError: an id is unknown, or nothing is selected (a filter that matches nothing is an error).
    """
    wanted = list(ids)
    by_id = {s.id: s for s in scenarios}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise UsageError(f"unknown scenario id(s): {', '.join(unknown)}")
    chosen = [by_id[i] for i in dict.fromkeys(wanted)] if wanted else list(scenarios)
    if keyword:
        matcher = keyword_matcher(keyword)
        chosen = [s for s in chosen if matcher(s)]
    if not chosen:
        raise UsageError("no scenario matches the selection")
    return chosen


def omit_reason(scenario: Scenario, actors: Sequence[str], options: Sequence[str]) -> str | None:
    """Why a scenario does not apply to the declared actors and options (None when it applies)."""
    if scenario.actor not in actors:
        return f"omit: actor {scenario.actor} is not declared (declared: {', '.join(actors) or 'none'})"
    missing = [c for c in scenario.capabilities if c not in options]
    if missing:
        return f"omit: needs option(s) {', '.join(missing)}, not claimed"
    return None


def missing_inputs(scenario: Scenario, provided: Iterable[str]) -> list[str]:
    """The declared inputs of a scenario that the run does not provide."""
    have = set(provided)
    return [i.name for i in scenario.inputs if i.name not in have]
