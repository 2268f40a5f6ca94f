"""The CLI's version and help: what a newcomer reads before anything runs."""

from __future__ import annotations

from importlib.metadata import version

from click.testing import CliRunner

from service.cli import main


def test_version_is_the_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"gategraph {version('gategraph')}"


def test_nodes_help_lists_every_csv_column():
    text = " ".join(CliRunner().invoke(main, ["nodes", "--help"]).output.split())
    for column in ("id", "kind", "op", "item", "value", "grad", "tangent", "grad_tangent"):
        assert column in text, column
