"""dvc.yaml stays honest: each stage lists exactly the qgan/ modules its script imports."""
import ast
from pathlib import Path

import yaml

from tests.conftest import ROOT


def qgan_imports(path: Path) -> set[str]:
    """Names of qgan modules imported anywhere in a file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qgan":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from qgan.core import tracking`
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("qgan.")}
    return found


def module_file(mod: str) -> Path | None:
    """The module's file (packages are excluded: their __init__.py holds only a docstring)."""
    file = ROOT / (mod.replace(".", "/") + ".py")
    return file if file.exists() else None


def closure(path: Path) -> set[str]:
    seen, todo = set(), qgan_imports(path)
    while todo:
        mod = todo.pop()
        if mod in seen or module_file(mod) is None:
            continue
        seen.add(mod)
        todo |= qgan_imports(module_file(mod))
    return {mod.replace(".", "/") + ".py" for mod in seen}


def test_every_stage_lists_exactly_the_modules_it_imports():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    wrong = {}
    for name, stage in stages.items():
        script = f"stages/{name}.py"
        assert f"python -m stages.{name}" in stage["cmd"], name
        listed = {d for d in stage["deps"] if d.startswith(("qgan/", "stages/")) and d.endswith(".py")}
        data = [d for d in stage["deps"] if d.startswith("qgan/") and not d.endswith(".py")]  # package data
        assert all((ROOT / d).exists() for d in data), (name, data)
        # `python -m stages.<name>` runs stages/__init__.py first (it pins the CPU numerics)
        need = closure(ROOT / script) | closure(ROOT / "stages" / "__init__.py") | {script, "stages/__init__.py"}
        if listed != need:
            wrong[name] = {"add": sorted(need - listed), "remove": sorted(listed - need)}
    assert not wrong, f"fix dvc.yaml deps: {wrong}"
    assert "qgan/scoring/extractors" in stages["classifier"]["deps"]  # the shipped weights it loads


def test_package_inits_hold_only_a_docstring():
    """Why stage deps may leave out __init__.py files: importing a package runs no code of ours."""
    for init in (ROOT / "qgan").rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) >= 1 and isinstance(body[0], ast.Expr), init
        extra = [n for n in body[1:] if not (isinstance(n, ast.Assign) and n.targets[0].id == "__version__")]
        assert not extra, f"{init}: code in a package __init__ (list it in dvc.yaml deps or move it)"


CONFIGLESS = {"slice", "report"}  # no params section of their own (they read other sections and files)


def test_params_sections_match_stage_names():
    stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    sections = {k for k, v in yaml.safe_load((ROOT / "params.yaml").read_text()).items() if isinstance(v, dict)}
    assert sections == stages - CONFIGLESS
    assert all((ROOT / "stages" / f"{s}.py").exists() for s in stages)


def _listed_modules(stage: dict) -> set[str]:
    return {d for d in stage["deps"] if d.startswith("qgan/")}


def imports_torch(path: Path) -> bool:
    """Whether a file imports torch anywhere (top level or inside a function)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
            return True
    return False


def test_only_the_harvest_depends_on_the_http_client():
    """params checks names against light registries, so an HTTP-client edit re-runs the harvest alone."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    holding = {name for name, stage in stages.items() if "qgan/entropy/http_client.py" in _listed_modules(stage)}
    assert holding == {"harvest"}


def test_the_report_stage_lists_no_module_that_imports_torch():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    torch_modules = {m for name in ("report", "evaluate") for m in _listed_modules(stages[name])
                     if imports_torch(ROOT / m)}
    assert "qgan/scoring/classifier.py" in torch_modules  # the check sees torch where it is (evaluate's deps)
    assert not torch_modules & _listed_modules(stages["report"]), sorted(torch_modules & _listed_modules(
        stages["report"]))
