"""dvc.yaml stays honest: each stage lists the qgan/ modules its script imports."""
import ast
from pathlib import Path

import yaml

from tests.conftest import ROOT


def qgan_imports(path: Path) -> set[str]:
    """Names of qgan modules imported anywhere in a file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "qgan":
                found |= {f"qgan.{a.name}" for a in node.names}
            elif node.module.startswith("qgan."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("qgan.")}
    return found


def closure(path: Path) -> set[str]:
    seen, todo = set(), qgan_imports(path)
    while todo:
        mod = todo.pop()
        file = ROOT / (mod.replace(".", "/") + ".py")
        if mod in seen or not file.exists():
            continue
        seen.add(mod)
        todo |= qgan_imports(file)
    return {mod.replace(".", "/") + ".py" for mod in seen}


def test_every_stage_lists_the_modules_it_imports():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        script = f"stages/{name}.py"
        assert f"python -m stages.{name}" in stage["cmd"], name
        deps = set(stage["deps"])
        lack = sorted((closure(ROOT / script) | {script}) - deps)
        if lack:
            missing[name] = lack
    assert not missing, f"add to dvc.yaml deps: {missing}"


def test_params_sections_match_stage_names():
    stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    sections = {k for k, v in yaml.safe_load((ROOT / "params.yaml").read_text()).items() if isinstance(v, dict)}
    assert sections == stages
    assert all((ROOT / "stages" / f"{s}.py").exists() for s in stages)
