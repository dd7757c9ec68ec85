"""What a check says besides valid/invalid: display mismatches, status and case warnings, expansion items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testbed.terminology._codesystem import CodeSystemIndex, Concept
from testbed.terminology._valueset import Entry, Source


def source_label(src: Source) -> str:
    return src.key if isinstance(src, CodeSystemIndex) else src.name


def _norm_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def display_issue(
    display: str | None, system: str, code: str, concept: Concept | None, listed: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    candidates: list[str] = []
    if listed is not None:
        candidates.append(listed.get("display") or "")
        candidates.extend(str(d.get("value") or "") for d in listed.get("designation") or ())
    if concept is not None:
        candidates.insert(0, concept.display or "")
        candidates.extend(str(d.get("value") or "") for d in concept.designations)
    candidates = [c for c in dict.fromkeys(candidates) if c]
    preferred = candidates[0] if candidates else None
    if display is None or preferred is None:
        return None, preferred
    wanted = _norm_text(display)
    if any(_norm_text(c) == wanted for c in candidates):
        return None, preferred
    others = ""
    if len(candidates) > 1:
        shown = ", ".join(f"'{c}'" for c in candidates[1:6])
        others = f" (or one of its designations: {shown}{', ...' if len(candidates) > 6 else ''})"
    return f"Wrong display '{display}' for {system}#{code}: it should be '{preferred}'{others}.", preferred


def concept_warnings(
    system: str, code: str, concept: Concept | None, source: Source | None
) -> tuple[str, ...]:
    if concept is None:
        return ()
    out: list[str] = []
    if concept.code != code and isinstance(source, CodeSystemIndex) and source.case_sensitive is None:
        out.append(
            f"The code '{code}' matches '{concept.code}' of {source.key} only when case is ignored; "
            f"the code system does not say whether case matters, so use '{concept.code}'."
        )
    if concept.inactive:
        out.append(f"The concept {system}#{concept.code} is inactive: it should no longer be used.")
    elif concept.deprecated:
        out.append(f"The concept {system}#{concept.code} is deprecated: its use is discouraged.")
    return tuple(out)


def contains_item(e: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {"system": e.system}
    if e.version:
        item["version"] = e.version
    if e.abstract:
        item["abstract"] = True
    if e.inactive:
        item["inactive"] = True
    item["code"] = e.code
    if e.display:
        item["display"] = e.display
    return item
