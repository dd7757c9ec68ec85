"""Weighted sampling that gives the same draws on every machine for the same random state."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class WeightedChoice(Generic[T]):
    """Draws one item with probability proportional to its weight.

    Only ``rng.random()`` is consumed (one call per draw), and the cumulative weights are summed in the
    order given, so the same generator state yields the same item everywhere (IEEE-754 doubles).
    """

    __slots__ = ("items", "_cumulative", "_total")

    def __init__(self, items: Sequence[T], item_weights: Sequence[float]) -> None:
        if len(items) != len(item_weights) or not items:
            raise ValueError("WeightedChoice needs as many weights as items, and at least one item")
        if any(w < 0 for w in item_weights) or sum(item_weights) <= 0:
            raise ValueError("WeightedChoice weights must be non-negative and not all zero")
        self.items: tuple[T, ...] = tuple(items)
        self._cumulative = list(accumulate(float(w) for w in item_weights))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        """One item."""
        index = bisect_right(self._cumulative, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]

    def probability(self, item: T) -> float:
        """The probability of ``item`` (0 when absent)."""
        total = 0.0
        previous = 0.0
        for candidate, cumulative in zip(self.items, self._cumulative, strict=True):
            if candidate == item:
                total += cumulative - previous
            previous = cumulative
        return total / self._total
