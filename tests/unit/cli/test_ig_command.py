from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from testbed.cli import main
from tests.unit.igtools.test_igtools import ig  # noqa: F401 - fixture


def test_ig_commands(ig: Path, tmp_path: Path) -> None:  # noqa: F811
    runner = CliRunner()
    assert runner.invoke(main, ["ig", "--help"]).exit_code == 0
    result = runner.invoke(main, ["ig", "build", str(ig)])
    assert result.exit_code == 0 and "1 resources, 3 examples" in result.output
    result = runner.invoke(main, ["ig", "check", str(ig)])
    assert result.exit_code == 0 and "examples: 3/3 as declared" in result.output and "OK" in result.output
    result = runner.invoke(main, ["ig", "pack", str(ig), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and (tmp_path / "o" / "example.small-1.0.0.tgz").is_file()
    (ig / "examples" / "ok.yaml").write_text((ig / "examples" / "ok.yaml").read_text().replace("1234", "12"))
    assert runner.invoke(main, ["ig", "check", str(ig)]).exit_code == 1  # stale package and a wrong verdict
    result = runner.invoke(main, ["ig", "build", str(tmp_path)])
    assert result.exit_code == 1 and "no ig.yaml" in result.output
