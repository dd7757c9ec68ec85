"""The national content package the synthetic generators render against, loaded once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from testbed.core.errors import PackageError
from testbed.core.settings import load_settings
from testbed.national import NationalContent
from testbed.packages import PackageRegistry


def national_packages(profiles_dir: Path | None = None) -> list[Path]:
    """The package folders and ``.tgz`` files of the profiles folder (as ``testbed validate`` loads them)."""
    folder = profiles_dir if profiles_dir is not None else load_settings().profiles_dir
    if folder is None or not folder.is_dir():
        return []
    return [
        child
        for child in sorted(folder.iterdir())
        if child.suffix == ".tgz" or (child / "package" / "package.json").is_file()
    ]


def load_content(profiles_dir: Path | None = None) -> tuple[PackageRegistry, NationalContent]:
    """A registry with the national packages (their core dependency is read lazily) and its names.

    Loaded once per folder and process (``TESTBED_PROFILES`` names the folder by default).

    Raises:
        PackageError: no package of the profiles folder declares the national names.
    """
    folder = profiles_dir if profiles_dir is not None else load_settings().profiles_dir
    return _load(folder.resolve() if folder is not None else None)


@lru_cache(maxsize=4)
def _load(folder: Path | None) -> tuple[PackageRegistry, NationalContent]:
    packages = national_packages(folder) if folder is not None else []
    if not packages:
        raise PackageError(
            f"No national content package was found in {folder or '(no profiles folder)'}: the synthetic "
            "renderers need the national package (profiles/ma.smr.core); set TESTBED_PROFILES to its folder."
        )
    registry = PackageRegistry(cache_dir=load_settings().cache_dir)
    for path in packages:
        registry.load(path)
    return registry, NationalContent.from_registry(registry)
