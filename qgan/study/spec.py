"""A study: ``studies/<name>.yaml``, read and checked like ``params.yaml`` (one line naming the key).

A study is the comparison of one arm with the baseline (``prng``) on the primary family, with its
controls, run block by block until the verdict is in (:mod:`qgan.study.runner`)::

    arm: entropy               # the arm of interest, judged against prng
    aa: prng2                  # the A/A control, trained with every block (null: none)
    ladder: [distinct-64, rank-8]  # positive controls, trained for the first ladder_seeds seeds
    block_size: 4              # paired seeds per block; max_seeds, budget_hours: when to give up
    design: {margin: 10.0}     # evaluate.* of the study (unset keys: params.yaml's)
    params: {train.epochs: 4}  # params.yaml overrides of the study's runs (dotted keys)

The study's runs use ``params.yaml`` with ``params`` and ``design`` applied; ``train.arms`` and
``train.seeds`` are the study's to set, block by block. :func:`study_identity` is what a study's
values file must keep: the arms, the seed numbering, the design and the recipe; a change to any of
them is a new study (a changed instrument answers another question).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qgan.core.errors import ConfigError
from qgan.core.schema import Int, Invalid, Number, OneOf, Section, Text, UniqueList, fail, key, section
from qgan.noise.arms import BASELINE_ARM, NEGATIVE_CONTROL, is_rung
from qgan.params import Params, arm_name, dict_to_params

STUDIES = Path("studies")  # studies/<name>.yaml and the folder studies/<name>/ (its values file, figure)
NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
STUDY_OWNS = ("train.arms", "train.seeds")  # set by the study per block, never by its params overrides
# Params that change neither what a run computes nor how it is judged: per-run provenance (recorded
# with each run), not the study's identity; data.path is a host's folder (the data's digest is checked
# instead). harvest.source stays in it: it says what "entropy" is.
NOT_IDENTITY = ("train.device", "train.threads", "data.path", *STUDY_OWNS)


@dataclass(frozen=True)
class Mapping:
    """A mapping (or null, read as empty)."""

    def __call__(self, v: Any) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise Invalid("a mapping of keys")
        return dict(v)


@section("study")
class StudySpec(Section):
    arm: str = key("entropy", arm_name, "the arm of interest, judged against prng on the primary family")
    aa: str | None = key(NEGATIVE_CONTROL, OneOf((NEGATIVE_CONTROL, None)),
                         "the A/A control, trained with every block (null: none)")
    ladder: tuple = key([], lambda v: () if v is None or v in ([], ()) else UniqueList(arm_name, "ladder")(v),
                        "positive controls (ladder rungs), trained for the first ladder_seeds seeds")
    ladder_seeds: int = key(12, Int(low=1), "seeds the ladder rungs are trained for, in whole blocks (the "
                                            "anytime sequence bounds nothing below 9)")
    first_seed: int = key(0, Int(low=0), "the study's first seed; blocks follow it")
    block_size: int = key(4, Int(low=1), "paired seeds per block: one look per block (even: the engine's groups)")
    max_seeds: int = key(100, Int(low=1), "seed cap: no block goes beyond it")
    budget_hours: float = key(8.0, Number(0.0, 1e6), "compute budget: wall-clock hours of the blocks run so far")
    pilot: str | None = key(None, Text(), "per-seed values (evaluate.json or CSV) qgan plan predicts from, "
                                          "recorded when the study starts")
    design: dict | None = key(None, Mapping(), "evaluate.* of the study (unset keys: params.yaml's)")
    params: dict | None = key(None, Mapping(), "params.yaml overrides of the study's runs, as dotted keys")


@dataclass(frozen=True)
class Study:
    """A study read from its file, with the params of its runs (``train.arms``/``train.seeds`` unset)."""
    name: str
    spec: StudySpec
    params: Params
    folder: Path          # studies/<name>/: the values file and the figures

    @property
    def values_path(self) -> Path:
        return self.folder / "values.json"

    def arms_of(self, first_seed_of_block: int) -> tuple[str, ...]:
        """The arms a block trains: baseline, arm, the A/A control, and the ladder while its seeds last."""
        s = self.spec
        ladder = s.ladder if first_seed_of_block - s.first_seed < s.ladder_seeds else ()
        return (BASELINE_ARM, s.arm, *((s.aa,) if s.aa else ()), *ladder)


def apply_dotted(raw: dict, overrides: dict, where: str) -> dict:
    """``raw`` with ``{"train.epochs": 100}`` applied (a nested mapping per section is taken too)."""
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out = apply_dotted(out, {f"{dotted}.{sub}": v}, where)
            continue
        if dotted in STUDY_OWNS:
            raise fail(f"study.params.{dotted}", value, "set by the study itself: arm, aa, ladder, first_seed, "
                                                         "block_size", where)
        *sections, last = dotted.split(".")
        node = out
        for name in sections:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise fail(f"study.params.{dotted}", value, f"{name} is not a section", where)
        node[last] = value
    return out


def study_params(spec: StudySpec, base: dict, where: str) -> Params:
    """``params.yaml`` (``base``) with the study's overrides and design, checked as params are."""
    raw = apply_dotted(base, spec.params or {}, where)
    raw.setdefault("evaluate", {}).update(spec.design or {})
    raw.setdefault("train", {}).update(arms=[BASELINE_ARM, spec.arm], seeds=[spec.first_seed])
    try:
        return dict_to_params(raw)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {str(exc).removeprefix('params.yaml: ')} (params.yaml with the study's params "
                          "and design)") from None


def check_arms(spec: StudySpec, where: str) -> None:
    """The arms must be distinct, the arm of interest a registered arm, the ladder only rungs."""
    if spec.arm == BASELINE_ARM or is_rung(spec.arm):
        raise fail("study.arm", spec.arm, f"an arm other than {BASELINE_ARM} and not a ladder rung", where)
    if spec.arm == spec.aa:
        raise fail("study.arm", spec.arm, "an arm other than the A/A control", where)
    for rung in spec.ladder:
        if not is_rung(rung):
            raise fail("study.ladder", rung, "ladder rungs only: distinct-K, bits-b, rank-r, scale-P", where)


def load_study(root: Path, name: str, params_path: Path | None = None) -> Study:
    """``studies/<name>.yaml`` under ``root`` on ``params.yaml`` (default ``root/params.yaml``), checked."""
    folder = root / STUDIES
    if not NAME.fullmatch(name):
        raise ConfigError(f"study name {name!r} is not allowed (lowercase letters, digits, '.', '_', '-')")
    path = folder / f"{name}.yaml"
    where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"{where}: no such study (studies here: {', '.join(known) or 'none'})")
    try:
        raw = yaml.safe_load(path.read_text())
        base = yaml.safe_load((params_path or root / "params.yaml").read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    spec = StudySpec.from_dict(raw, where=where)
    check_arms(spec, where)
    if spec.max_seeds < spec.block_size:
        raise fail("study.max_seeds", spec.max_seeds, f"at least block_size ({spec.block_size})", where)
    if spec.ladder and spec.ladder_seeds % spec.block_size:
        raise fail("study.ladder_seeds", spec.ladder_seeds, f"whole blocks: a multiple of block_size "
                                                            f"({spec.block_size})", where)
    return Study(name, spec, study_params(spec, base, where), folder / name)


def study_identity(study: Study) -> dict:
    """What the values file keeps and a resumed study must match: the arms, the seed numbering, the
    design (``evaluate.*``) and the recipe (every other param but the per-run provenance keys)."""
    s = study.spec
    flat = study.params.flat()
    return {"arms": {"arm": s.arm, "baseline": BASELINE_ARM, "aa": s.aa, "ladder": list(s.ladder),
                     "ladder_seeds": s.ladder_seeds},
            "seeds": {"first_seed": s.first_seed, "block_size": s.block_size},
            "design": study.params.evaluate.to_dict(),
            "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in flat.items()
                       if k not in NOT_IDENTITY and not k.startswith("evaluate.")
                       and not (k.startswith("harvest.") and k != "harvest.source")}}
