"""Entropy accounting: how many normals each run draws and where they lie in the pool.

One training step draws two latent batches (one for the D step, one for the G step),
so a run draws ``T = epochs * (n_train // batch_size) * 2 * batch_size * latent_dim``
training normals, ``G = GRID_SIZE * latent_dim`` normals for its fixed sample grid and
``E = n_samples * latent_dim`` normals for evaluation. The ``entropy`` run of the seed
in position s of ``train.seeds`` reads, in ``normals.npy``::

    train [s*T, (s+1)*T)      grid S*T + [s*G, (s+1)*G)      eval S*(T+G) + [s*E, (s+1)*E)

with S = len(train.seeds). Every size is rounded up to even, so ranges never share a
byte; the training ranges do not move when only ``evaluate.n_samples`` changes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from qgan.errors import ConfigError
from qgan.params import POOL_ARMS, Params

GRID_SIZE = 64  # images in a sample grid (8 x 8)


@dataclass(frozen=True)
class RunDemand:
    train_normals: int  # latent normals drawn by training
    grid_normals: int   # latent normals of the fixed sample grid
    eval_normals: int   # latent normals of the evaluation samples

    @property
    def total(self) -> int:
        return self.train_normals + self.grid_normals + self.eval_normals


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped: BatchNorm needs B > 1)."""
    steps = n_train // batch_size
    if steps == 0:
        raise ConfigError(f"params.yaml: train.batch_size: {batch_size} is not allowed "
                          f"(larger than the {n_train} training images)")
    return steps


def _even(n: int) -> int:
    """Round up to even: Box-Muller makes normals in pairs from one byte group, so an
    even-sized range never shares a byte with its neighbour."""
    return n + n % 2


def run_demand(params: Params, n_train: int) -> RunDemand:
    t, latent = params.train, params.latent_dim
    steps = t.epochs * steps_per_epoch(n_train, t.batch_size)
    return RunDemand(train_normals=steps * 2 * t.batch_size * latent,  # even: two batches a step
                     grid_normals=_even(GRID_SIZE * latent),
                     eval_normals=_even(params.evaluate.n_samples * latent))


@dataclass(frozen=True)
class NoiseLayout:
    slots: int          # entropy runs that read the pool (one per seed)
    demand: RunDemand   # normals per run

    def _range(self, offset: int, size: int, slot: int) -> tuple[int, int]:
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} outside 0..{self.slots - 1}")
        return offset + slot * size, offset + (slot + 1) * size

    def train_range(self, slot: int) -> tuple[int, int]:
        return self._range(0, self.demand.train_normals, slot)

    def grid_range(self, slot: int) -> tuple[int, int]:
        return self._range(self.slots * self.demand.train_normals, self.demand.grid_normals, slot)

    def eval_range(self, slot: int) -> tuple[int, int]:
        offset = self.slots * (self.demand.train_normals + self.demand.grid_normals)
        return self._range(offset, self.demand.eval_normals, slot)

    @property
    def total_normals(self) -> int:
        return self.slots * self.demand.total


def noise_layout(params: Params, n_train: int) -> NoiseLayout:
    """One slot per seed, whichever arms run (so adding an arm never moves a range)."""
    return NoiseLayout(slots=len(params.train.seeds), demand=run_demand(params, n_train))


def normals_to_bytes(n_normals: int, bytes_per_normal: int) -> int:
    """Pool bytes that yield ``n_normals``: Box-Muller makes normals in pairs."""
    return _even(n_normals) * bytes_per_normal


def budget_report(params: Params, n_train: int, pool_bytes: int) -> dict:
    """Numbers ``qgan budget`` prints and the harvest stage records."""
    layout = noise_layout(params, n_train)
    bpn = params.convert.bytes_per_normal
    entropy_runs = layout.slots if set(POOL_ARMS) & set(params.train.arms) else 0
    needed = normals_to_bytes(layout.total_normals, bpn) if entropy_runs else 0
    return {"n_train": n_train, "entropy_runs": entropy_runs, **asdict(layout.demand),
            "normals_per_run": layout.demand.total, "bytes_per_normal": bpn,
            "bytes_per_run": layout.demand.total * bpn, "bytes_needed": needed,
            "pool_bytes": pool_bytes, "deficit_bytes": max(0, needed - pool_bytes)}
