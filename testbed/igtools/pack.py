"""``testbed ig pack``: the standard ``package.tgz`` of a built package, with snapshots for other tools."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from testbed.core.errors import PackageError
from testbed.fhir.context import FhirContext


def pack_package(root: Path, out: Path | None = None) -> Path:
    """Write ``<name>-<version>.tgz`` (NPM layout, snapshots generated) and return its path.

    Raises:
        PackageError: no built package, or a profile whose snapshot cannot be generated.
    """
    folder = root / "package"
    if not (folder / "package.json").is_file():
        raise PackageError(f"'{root}' has no built package; run: testbed ig build {root}")
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    ctx = FhirContext.create([root])
    target = (out or root) / f"{manifest['name']}-{manifest['version']}.tgz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.parent == folder and path.name.startswith("StructureDefinition-"):
                sd = json.loads(data)
                data = (
                    json.dumps(ctx.snapshots.ensure_snapshot(sd), ensure_ascii=False, indent=2) + "\n"
                ).encode()
            info = tarfile.TarInfo(f"package/{path.relative_to(folder).as_posix()}")
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return target
