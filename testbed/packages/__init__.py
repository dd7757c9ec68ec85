"""FHIR NPM packages and folders of conformance resources, with canonical resolution."""

from testbed.packages._registry import (
    CORE_PACKAGE,
    CORE_SHA256,
    CORE_TGZ,
    CORE_VERSION,
    PackageInfo,
    PackageRegistry,
    XmlReader,
)
from testbed.packages._versions import version_key, version_matches

__all__ = [
    "CORE_PACKAGE",
    "CORE_SHA256",
    "CORE_TGZ",
    "CORE_VERSION",
    "PackageInfo",
    "PackageRegistry",
    "XmlReader",
    "version_key",
    "version_matches",
]
