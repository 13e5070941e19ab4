"""Entropy accounting: how many normals each run draws and where they lie in the pool.

One training step draws two latent batches (one for the D step, one for the G step),
so a run draws ``T = epochs * (n_train // batch_size) * 2 * batch_size * latent_dim``
training normals, ``G = GRID_SIZE * latent_dim`` normals for its fixed sample grid and
``E = n_samples * latent_dim`` normals for evaluation. The ``entropy`` run of the seed
in position s of ``train.seeds`` (blocks expanded) reads, in ``normals.npy``, from its slot's
start ``b = s*(T'+G+E)``::

    train [b, b+T')      grid [b+T', b+T'+G)      eval [b+T'+G, b+T'+G+E)

with S = len(train.seeds) and the training span ``T' = T`` when the pool holds all
``S*(T+G+E)`` normals. Slots are whole and in seed order, so adding seeds appends slots and
moves no existing range. A shorter pool stops the train stage (``train.on_exhausted: error``)
or, with ``cycle``, shrinks the span to what the pool allows, in whole training steps, and
each run reads its span ``T / T'`` times (the *reuse factor*); grid and evaluation ranges are
never reused. Every size is even, so a range of normals ``[a, b)`` is exactly pool bytes
``[a*w, b*w)`` (``w = ceil(bits/8)``; Box-Muller makes normals 2j and 2j+1 from one pair of
uniforms) and ranges never share a byte.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from qgan.core.errors import ConfigError, QganError
from qgan.noise.convert import bytes_per_uniform, normals_in_pool, normals_to_bytes

GRID_SIZE = 64  # images in a sample grid (8 x 8)
REGIONS = ("train", "grid", "eval")  # each run's three noise regions, in pool order


class PoolTooSmall(QganError):
    """The pool holds fewer normals than the configured entropy runs draw (and, with
    ``train.on_exhausted: cycle``, too few even for one step per run)."""


@dataclass(frozen=True)
class NoisePlan:
    """What the configured runs draw (``Params.noise_plan`` builds it from params.yaml)."""
    latent_dim: int            # latent_dim
    seeds: tuple[int, ...]     # train.seeds: one pool slot each
    epochs: int                # train.epochs
    batch_size: int            # train.batch_size
    n_samples: int             # evaluate.n_samples: each run's evaluation draws
    bits: int                  # convert.bits
    method: str                # convert.method
    on_exhausted: str          # train.on_exhausted: error or cycle
    reads_pool: bool = True    # some arm in train.arms reads the pool (only the budget report asks)


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


def run_demand(plan: NoisePlan, n_train: int) -> RunDemand:
    latent = plan.latent_dim
    steps = plan.epochs * steps_per_epoch(n_train, plan.batch_size)
    return RunDemand(train_normals=steps * 2 * plan.batch_size * latent,  # even: two batches a step
                     grid_normals=_even(GRID_SIZE * latent),
                     eval_normals=_even(plan.n_samples * latent))


@dataclass(frozen=True)
class NoiseLayout:
    slots: int          # entropy runs that read the pool (one per seed)
    demand: RunDemand   # normals per run
    train_span: int     # normals of each slot's training range (< demand.train_normals: cycled)

    @property
    def slot_size(self) -> int:
        """Normals of one slot: ``T' + G + E``."""
        return self.train_span + self.demand.grid_normals + self.demand.eval_normals

    def _range(self, offset: int, size: int, slot: int) -> tuple[int, int]:
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} outside 0..{self.slots - 1}")
        start = slot * self.slot_size + offset
        return start, start + size

    def train_range(self, slot: int) -> tuple[int, int]:
        return self._range(0, self.train_span, slot)

    def grid_range(self, slot: int) -> tuple[int, int]:
        return self._range(self.train_span, self.demand.grid_normals, slot)

    def eval_range(self, slot: int) -> tuple[int, int]:
        return self._range(self.train_span + self.demand.grid_normals, self.demand.eval_normals, slot)

    def region_range(self, region: str, slot: int) -> tuple[int, int]:
        """``[start, stop)`` in ``normals.npy`` of ``region`` (train, grid, eval) of ``slot``."""
        return {"train": self.train_range, "grid": self.grid_range, "eval": self.eval_range}[region](slot)

    @property
    def cycles(self) -> bool:
        """Whether training reads its span more than once (``train.on_exhausted: cycle``)."""
        return self.train_span < self.demand.train_normals

    @property
    def reuse_factor(self) -> float:
        """Times each training normal is read: ``T / T'`` (1.0 without cycling)."""
        return self.demand.train_normals / self.train_span

    @property
    def total_normals(self) -> int:
        return self.slots * self.slot_size


def noise_layout(plan: NoisePlan, n_train: int, pool_bytes: int | None = None, reading: bool = True
                 ) -> NoiseLayout:
    """Where every run's noise lies: one slot per seed. ``pool_bytes`` None gives the planned
    layout; otherwise the layout this pool allows. It never depends on ``train.arms`` (adding an
    arm moves no range and re-runs no other arm): a cycled layout applies to every arm alike,
    so the ``prng`` arm cycles exactly as ``entropy`` does.

    A run ``reading`` the pool gets :class:`PoolTooSmall` when the pool is short and
    ``train.on_exhausted`` is ``error``, or when even one step's noise per run would not fit
    with ``cycle``; a run that does not read it gets the planned layout then.
    """
    demand = run_demand(plan, n_train)
    full = NoiseLayout(slots=len(plan.seeds), demand=demand, train_span=demand.train_normals)
    if pool_bytes is None:
        return full
    have = normals_in_pool(pool_bytes, plan.bits, plan.method)
    if have >= full.total_normals:
        return full
    need_bytes = normals_to_bytes(full.total_normals, plan.bits)
    numbers = (f"the pool holds {pool_bytes:,} bytes ({have:,} normals) but {full.slots} entropy runs draw "
               f"{full.total_normals:,} normals ({need_bytes:,} bytes)")
    if plan.on_exhausted == "error":
        if not reading:
            return full
        raise PoolTooSmall(f"{numbers}; set harvest.bytes: {need_bytes} (or auto) and re-run harvest, or set "
                           "train.on_exhausted: cycle to reuse each run's range")
    fixed = full.slots * (demand.grid_normals + demand.eval_normals)
    one_step = 2 * plan.batch_size * plan.latent_dim  # even
    span = max(0, have - fixed) // full.slots
    span -= span % one_step  # whole steps: every pass of every arm draws the same batches
    if span < one_step:
        if not reading:
            return full
        least = normals_to_bytes(fixed + full.slots * one_step, plan.bits)
        raise PoolTooSmall(f"{numbers}; too few even to cycle (one step per run and the grid and evaluation "
                           f"ranges need {least:,} bytes): raise harvest.bytes")
    return NoiseLayout(slots=full.slots, demand=demand, train_span=span)


def budget_report(plan: NoisePlan, n_train: int, pool_bytes: int) -> dict:
    """Numbers ``qgan budget`` prints and the harvest stage records; ``reuse_factor`` is what
    training would see with this pool, or None and ``stops`` the train stage's error."""
    layout = noise_layout(plan, n_train)
    bpn = bytes_per_uniform(plan.bits)
    entropy_runs = layout.slots if plan.reads_pool else 0
    needed = normals_to_bytes(layout.total_normals, plan.bits) if entropy_runs else 0
    try:
        reuse, stops = noise_layout(plan, n_train, pool_bytes, plan.reads_pool).reuse_factor, None
    except PoolTooSmall as exc:
        reuse, stops = None, str(exc)
    return {"n_train": n_train, "entropy_runs": entropy_runs, **asdict(layout.demand),
            "normals_per_run": layout.demand.total, "bytes_per_normal": bpn,
            "bytes_per_run": layout.demand.total * bpn, "bytes_needed": needed,
            "pool_bytes": pool_bytes, "deficit_bytes": max(0, needed - pool_bytes),
            "on_exhausted": plan.on_exhausted, "reuse_factor": reuse, "stops": stops}


def records_to_accounting(records: dict[str, dict], pool_bytes: int) -> dict:
    """Check what the runs read against the pool: every pool range (``bytes`` of each region's
    record, from :meth:`qgan.noise.streams.NormalStream.record`) inside the pool and no byte in two
    ranges (``overlaps`` names neighbouring ranges that overlap: empty iff none do).
    ``records`` maps a run name to ``{"train": rec, "grid": rec, "eval": rec, ...}``."""
    ranges = sorted((tuple(rec["bytes"]), f"{name}/{region}") for name, regions in records.items()
                    for region in REGIONS if "bytes" in regions.get(region, {})
                    for rec in [regions[region]])
    overlaps = [f"{a} and {b}" for ((_, end_a), a), ((start_b, _), b) in zip(ranges, ranges[1:]) if start_b < end_a]
    return {"pool_bytes": pool_bytes, "pool_ranges": len(ranges),
            "bytes_in_ranges": sum(stop - start for (start, stop), _ in ranges),
            "outside_pool": [name for (_, stop), name in ranges if stop > pool_bytes], "overlaps": overlaps,
            "max_reuse_factor": max((r.get("reuse_factor", 1.0) for r in records.values()), default=1.0)}
