"""`midas info` and the CLI dispatcher."""

from __future__ import annotations

import subprocess
import sys

from midas.cli import info
from midas.cli.main import main


def test_info_reports_build_facts():
    facts = info.collect()
    assert facts["midas"]
    assert facts["openmp"].startswith(("yes", "no"))
    assert facts["cuda kernels"].startswith(("built", "not built"))
    assert "gpu" in facts


def test_cli_info_runs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "openmp" in out and "gpu" in out


def test_cli_module_entry():
    r = subprocess.run([sys.executable, "-m", "midas.cli.main", "info"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "compiler" in r.stdout
