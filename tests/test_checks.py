"""The habits `make test` enforces: ruff's rules and the import-layer contract (pyproject.toml).

Each check is run on this checkout (it must pass) and on a copy with a deliberate fault (it
must fail), so neither check can pass by checking nothing.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "qgan", tmp_path / "qgan", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's qgan, not the installed one
    return subprocess.run([str(BIN / "lint-imports"), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _ruff(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=root, capture_output=True, text=True,
                          timeout=300)


def test_layers_hold_here_and_an_upward_import_breaks_them(tmp_path):
    here = _lint_imports(ROOT)
    assert here.returncode == 0, here.stdout + here.stderr
    copy = _copy(tmp_path)
    errors = copy / "qgan" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom qgan.gan import models  # noqa: E402,F401  (core -> gan: upward)\n")
    broken = _lint_imports(copy)
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout and "qgan.core.errors -> qgan.gan.models" in broken.stdout, broken.stdout


def test_a_domain_package_importing_the_pipeline_breaks_the_layers(tmp_path):
    """scoring, decision and replay compute; only qgan.pipeline (and the CLI) may wire stages."""
    copy = _copy(tmp_path)
    metrics = copy / "qgan" / "scoring" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nfrom qgan.pipeline import paths  # noqa: E402,F401  (upward)\n")
    broken = _lint_imports(copy)
    assert broken.returncode != 0
    assert "qgan.scoring.metrics -> qgan.pipeline.paths" in broken.stdout, broken.stdout


def test_ruff_passes_here_and_fails_on_unsorted_imports(tmp_path):
    here = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert here.returncode == 0, here.stdout + here.stderr
    copy = _copy(tmp_path)
    (copy / "qgan" / "core" / "bad.py").write_text("import sys\nimport os\n\nprint(os, sys)\n")
    broken = _ruff(copy)
    assert broken.returncode != 0 and "I001" in broken.stdout, broken.stdout
