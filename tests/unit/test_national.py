from __future__ import annotations

from pathlib import Path

import pytest

from testbed.core.errors import PackageError
from testbed.national import NationalContent
from testbed.packages import PackageRegistry


def test_names_come_from_the_package(national: NationalContent) -> None:
    ins = national.identifier("ins")
    assert ins.uri.endswith("/NamingSystem/ins")
    assert ins.oid and ins.oid.startswith(national.oid_root)
    assert ins.v2_hd == f"{ins.v2_authority}&{ins.oid}&ISO"
    assert national.profile_url("Patient") == f"{national.canonical}/StructureDefinition/ma-patient"
    assert national.value_set_url("region").endswith("/ValueSet/ma-region")
    assert national.local_system("123456789") == f"{national.local_system_prefix}123456789"


def test_unknown_role_is_a_clear_error(national: NationalContent) -> None:
    with pytest.raises(PackageError, match="no profile declared for 'Nope'"):
        national.profile_url("Nope")
    with pytest.raises(PackageError, match="no naming system"):
        national.identifier("nope")


def test_a_registry_without_national_content_is_refused(tmp_path: Path) -> None:
    reg = PackageRegistry(cache_dir=tmp_path)
    reg.load_core()
    with pytest.raises(PackageError, match="testbed.national"):
        NationalContent.from_registry(reg)
