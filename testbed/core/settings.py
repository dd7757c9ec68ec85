"""Where the testbed keeps its cache and finds its content; overridable by environment variables.

``TESTBED_CACHE_DIR``   compiled caches and extracted packages (default: ``$XDG_CACHE_HOME/testbed``)
``TESTBED_PROFILES``    the folder of national content packages (default: ``profiles/`` of the checkout)
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_ROOT.parent


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved locations used by the engine."""

    cache_dir: Path
    profiles_dir: Path | None


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "testbed"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def load_settings() -> Settings:
    """Read the environment once and resolve the locations (falls back to a temp dir for the cache)."""
    cache = Path(os.environ.get("TESTBED_CACHE_DIR") or _default_cache_dir())
    if not _writable(cache):
        cache = Path(tempfile.gettempdir()) / f"testbed-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
        cache.mkdir(parents=True, exist_ok=True)
    env_profiles = os.environ.get("TESTBED_PROFILES")
    profiles: Path | None
    if env_profiles is not None:
        profiles = Path(env_profiles) if env_profiles else None
    else:
        candidate = PROJECT_ROOT / "profiles"
        profiles = candidate if candidate.is_dir() else None
    return Settings(cache_dir=cache, profiles_dir=profiles)
