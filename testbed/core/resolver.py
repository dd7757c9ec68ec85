"""The protocol through which subpackages find conformance resources by canonical URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class CanonicalResolver(Protocol):
    """Finds FHIR conformance resources (StructureDefinition, ValueSet, CodeSystem, …)."""

    def resolve(self, canonical: str, resource_type: str | None = None) -> dict[str, Any] | None:
        """The resource with this canonical URL (``url`` or ``url|version``), or None."""
        ...

    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        """Every loaded resource of this type (latest version of each canonical first)."""
        ...
