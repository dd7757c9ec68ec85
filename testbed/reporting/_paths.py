"""Where the report content and the agency's public material are found.

``TESTBED_REPORTS``  the report content folder (default: ``reports/`` of the checkout)
``TESTBED_AGENCY``   the agency folder (default: the one folder under ``profiles/`` with an ``agency.yaml``)
"""

from __future__ import annotations

import os
from pathlib import Path

from testbed.core.errors import InputError
from testbed.core.settings import PROJECT_ROOT, load_settings

AGENCY_FILE = "agency.yaml"


def reports_dir() -> Path:
    """The report content folder: templates, message catalogues, label rules, assets."""
    env = os.environ.get("TESTBED_REPORTS")
    return Path(env) if env else PROJECT_ROOT / "reports"


def agency_dir() -> Path:
    """The agency folder: the one folder of ``profiles/`` holding an ``agency.yaml``.

    Raises:
        InputError: none or several such folders (set ``TESTBED_AGENCY`` to choose).
    """
    env = os.environ.get("TESTBED_AGENCY")
    if env:
        return Path(env)
    profiles = load_settings().profiles_dir
    found = sorted(p.parent for p in profiles.glob(f"*/{AGENCY_FILE}")) if profiles else []
    if len(found) != 1:
        where = str(profiles) if profiles else "no profiles/ folder"
        what = "no folder" if not found else f"{len(found)} folders ({', '.join(p.name for p in found)})"
        raise InputError(
            f"{where}: {what} with an {AGENCY_FILE}; "
            "give the agency's keys with --public-key or set TESTBED_AGENCY"
        )
    return found[0]
