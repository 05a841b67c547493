"""``simkit prepare NAME SRC --out DIR``: run an adapter (:mod:`simkit.data.adapters`) through the writer.

Order of work: parse options -> ``scan`` the source (every check that can fail on the input, before the
output is touched) -> manifest -> one shard per unit, skipping shards already complete with the same
config hash -> split files of every protocol -> ``summary.json``. The split files come last, so a prepare
that stops early (a corrupt file found while decoding, Ctrl-C) leaves finished shards for the re-run but no
dataset that the opener or ``simkit inspect`` would take for complete.

Shards are independent units run by an executor (:mod:`simkit.executors`: ``serial``, ``process``, ``ray``):
each unit is :func:`prepare_unit` (``adapter.build`` and the shard's atomic write) whatever the executor, so
the bytes do not depend on it or on the worker count. The parent holds the directory's lock and writes the
manifest, split files and summary. The first unit that fails (a corrupt source file) stops the prepare, as a
serial one always did: queued units are cancelled, running ones stopped (their temporary files removed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simkit
from simkit.audio.config import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE  # one range for render and prepare
from simkit.data import layout
from simkit.data.adapters import (
    Adapter,
    CommonOptions,
    Plan,
    Unit,
    get_adapter,
    options_dict,
    parse_options,
    source_root,
)
from simkit.data.pipeline import Progress, run_units
from simkit.data.writer import DatasetWriter, new_manifest, scene_splits
from simkit.errors import SimkitError


@dataclass
class PrepareResult:
    """What a prepare wrote: where, which units were written or skipped, and the summary."""

    out: Path
    written: list[str]
    skipped: list[str]
    summary: dict[str, Any]
    plan: Plan


def _limit(plan: Plan, max_units: int) -> Plan:
    """The first ``max_units`` units and the protocol entries that name them (a trial subset)."""
    if max_units <= 0 or max_units >= len(plan.units):
        return plan
    keep = plan.units[:max_units]
    ids = {u.shard_id for u in keep}
    protos = {
        name: dataclasses.replace(p, splits={s: [e for e in es if layout.parse_entry(e, name)[0] in ids]
                                             for s, es in p.splits.items()})
        for name, p in plan.protocols.items()
    }
    return dataclasses.replace(plan, units=keep, protocols=protos)


def prepare_unit(adapter: Adapter, unit: Unit, writer: DatasetWriter) -> str:
    """One unit of a prepare: build its shard and write it atomically; returns the shard id. Top level and
    picklable, so every executor runs this same code."""
    data = adapter.build(unit)
    attrs = {"sample_rate": adapter.common.sample_rate, **data.attrs}
    writer.write_shard(unit.shard_id, data.arrays, attrs, group_attrs=data.group_attrs, groups=data.groups)
    return unit.shard_id


def prepare(
    name: str,
    src: Path | str,
    out: Path | str,
    options: Mapping[str, Any] | None = None,
    common: CommonOptions | None = None,
    progress: bool = True,
    on_unit: Callable[[str], None] | None = None,
    workers: int = 1,
    executor: str | None = None,
    ray_address: str | None = None,
) -> PrepareResult:
    """Prepare dataset ``name`` from the release at ``src`` into ``out`` (see the module docstring).

    ``workers``, ``executor`` and ``ray_address`` choose how the shards run
    (:func:`simkit.executors.executor_for`); the data do not depend on them."""
    from simkit.executors import SHARED, executor_for

    run = executor_for(executor, workers, ray_address)
    cls = get_adapter(name)
    opts = parse_options(cls, options or {})
    common = common or CommonOptions()
    if not MIN_SAMPLE_RATE <= common.sample_rate <= MAX_SAMPLE_RATE:
        raise SimkitError(f"--sample-rate must be {MIN_SAMPLE_RATE} .. {MAX_SAMPLE_RATE} Hz "
                          f"(got {common.sample_rate})")
    if common.max_units < 0:
        raise SimkitError(f"--max-units must be >= 0 (got {common.max_units})")
    src = source_root(src)  # absolute once: every path the adapter builds below SRC then means one file
    if not src.exists():
        raise SimkitError(f"{name} source {src} does not exist")
    if not src.is_dir():
        raise SimkitError(f"{name} source {src} is not a directory")
    adapter = cls(opts, common)
    plan = _limit(adapter.scan(src), common.max_units)
    if not plan.units:
        raise SimkitError(f"{name} source {src} holds no clips to prepare")
    if "default" not in plan.protocols:
        raise SimkitError(f"adapter {name} defined no default protocol")  # a bug in the adapter, said plainly
    out = Path(out)
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise SimkitError(f"--out {out} lies inside the source {src}; choose a directory outside it")
    config = {"adapter": name, "adapter_version": cls.version, "options": options_dict(opts),
              "common": dataclasses.asdict(common), "units": len(plan.units)}
    manifest = new_manifest(
        origin=layout.origin("adapter", name, cls.version, str(src.resolve()), cls.licence,
                             homepage=cls.homepage, simkit_version=simkit.__version__, **plan.facts),
        config=config,
        groups=list(cls.groups),
        protocols={k: layout.protocol_entry(p.description, p.family,
                                            plan.default_alias if k == layout.DEFAULT_PROTOCOL else None)
                   for k, p in plan.protocols.items()},
        scenes={**{u.shard_id: "none" for u in plan.units},
                **scene_splits(plan.protocols[layout.DEFAULT_PROTOCOL].splits)},
        tool=f"simkit prepare {name}",
        tasks=list(cls.tasks),
    )
    with DatasetWriter(out, manifest) as w:
        units, shards = {u.shard_id: u for u in plan.units}, w.for_units()
        # the first failed shard stops the prepare (no split files: it does not look complete); the adapter
        # (with all its scan found) goes once to each worker, not once per unit
        ran = run_units(prepare_unit, list(units), lambda sid: (SHARED, units[sid], shards), executor=run,
                        progress=Progress(f"prepare {name}", "shard", progress), is_done=w.is_done,
                        failures="stop", on_unit=on_unit, shared=adapter)
        done = set(ran.done)
        written = [sid for sid in units if sid in done]
        for pname, proto in plan.protocols.items():
            if pname != layout.DEFAULT_PROTOCOL:
                w.write_splits(proto.splits, pname)
        w.write_splits(plan.protocols[layout.DEFAULT_PROTOCOL].splits)
        summary = w.finish()
    return PrepareResult(out, written, ran.skipped, summary, plan)


def adapter_names() -> list[str]:
    """Every registered adapter."""
    from simkit.data.adapters import ADAPTERS

    return ADAPTERS.names()
