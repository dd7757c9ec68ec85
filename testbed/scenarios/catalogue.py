"""The requirement catalogue the scenarios cite, read from the content packages under ``profiles/``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from testbed.core.errors import UsageError
from testbed.core.settings import load_settings
from testbed.requirements import Requirement, RequirementCatalogue, Vocabulary
from testbed.scenarios._yaml import load_yaml_file

_VOCABULARY_KEYS = ("prefix", "areas", "actors", "levels")


def catalogue_files(profiles_dir: Path | None = None) -> list[tuple[Path, Vocabulary]]:
    """The requirement CSV files named by each ``profiles/*/ig.yaml`` with their vocabulary."""
    folder = profiles_dir if profiles_dir is not None else load_settings().profiles_dir
    if folder is None or not folder.is_dir():
        return []
    found = []
    for ig in sorted(folder.glob("*/ig.yaml")):
        data = load_yaml_file(ig)
        section = data.get("requirements") if isinstance(data, dict) else None
        if not isinstance(section, dict) or not isinstance(section.get("file"), str):
            continue
        vocab = Vocabulary.from_mapping({k: section[k] for k in _VOCABULARY_KEYS if k in section})
        found.append((ig.parent / section["file"], vocab))
    return found


@lru_cache(maxsize=4)
def load_catalogue(profiles_dir: Path | None = None) -> RequirementCatalogue:
    """The union of the requirement catalogues of the content packages (checked on load).

    Raises:
        UsageError: no package declares a catalogue.
        RequirementError: a catalogue file is wrong.
    """
    files = catalogue_files(profiles_dir)
    if not files:
        raise UsageError(
            "No requirement catalogue found: no profiles/*/ig.yaml names a requirements file "
            "(set TESTBED_PROFILES to the content folder)."
        )
    requirements: list[Requirement] = []
    prefix = None
    for path, vocab in files:
        cat = RequirementCatalogue.load(path, vocabulary=vocab)
        prefix = prefix or cat.prefix
        requirements.extend(cat)
    return RequirementCatalogue(requirements, prefix=prefix)


def catalogue_version(profiles_dir: Path | None = None) -> dict[str, str]:
    """``{package folder name: ig.yaml version}`` of the packages whose catalogue is loaded."""
    versions = {}
    for path, _ in catalogue_files(profiles_dir):
        data = load_yaml_file(path.parent / "ig.yaml")
        package = data.get("package") if isinstance(data, dict) else None
        if isinstance(package, dict):
            versions[str(package.get("name") or path.parent.name)] = str(package.get("version") or "")
        else:
            versions[path.parent.name] = ""
    return versions


def framework_edition(profiles_dir: Path | None = None) -> str | None:
    """The framework edition in force, from the first ``profiles/*/editions.yaml`` (``in_force``)."""
    folder = profiles_dir if profiles_dir is not None else load_settings().profiles_dir
    if folder is None or not folder.is_dir():
        return None
    for path in sorted(folder.glob("*/editions.yaml")):
        data = load_yaml_file(path)
        if isinstance(data, dict) and data.get("in_force") is not None:
            return str(data["in_force"])
    return None
