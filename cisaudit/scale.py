"""Collection across a Dask cluster (``--executor dask://HOST:PORT``).

The targets are split into shards, a few per worker (never one task per host). Each
shard is collected on a worker, its targets in parallel threads, exactly as a local run
collects them, and judged there against the client's catalog and selection (sent once
to every worker); the evidence and results stream back as shards complete, so the
client only merges, scores and writes, and the run's results.json and evidence are those
of a local run, timings apart.

Workers reach the targets themselves: key files, known_hosts files and an SSH agent are
read from each worker's own filesystem and environment, at the paths the inventory
names. The client ships targets (names, addresses, paths, names of environment
variables), never private keys or passwords; strict host-key checking applies on every
worker as it does locally. Audits are read-only, so a shard whose worker dies is simply
run again elsewhere (Dask reschedules it); each target is counted once, by shard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cisaudit.evidence import TargetEvidence
from cisaudit.model import ControlInfo, TargetResult
from cisaudit.targets import Target


@dataclass
class Shard:
    """What a worker sends back: each target's evidence and, when it judged them, its
    results with the controls and benchmark sections they were judged against."""

    evidence: list[TargetEvidence]
    results: list[TargetResult] | None = None
    controls: dict[str, ControlInfo] = field(default_factory=dict)
    sections: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


class ExecutorUnavailable(RuntimeError):
    """The executor cannot be used (scheduler unreachable, Dask not installed)."""


def parse_executor(value: str | None) -> str | None:
    """None for the local executor, else the Dask scheduler address (tcp://HOST:PORT)."""
    if not value or value == "local":
        return None
    if value.startswith("dask://"):
        address = value[len("dask://") :]
        if not address:
            raise ValueError("dask:// needs the scheduler's HOST:PORT")
        return f"tcp://{address}"
    raise ValueError(f"unknown executor {value!r}: local or dask://HOST:PORT")


def _client(address: str, timeout: float) -> Any:
    """A Dask client of the scheduler at ``address``; ExecutorUnavailable when Dask is not
    installed or the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorUnavailable(
            "the Dask executor needs dask.distributed: pip install 'cisaudit[scale]'"
        ) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ExecutorUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _workers(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {}))


MAX_SHARD = 250  # targets: what one shard brings back at once bounds the client's memory


def _shard_size(total: int, workers: int) -> int:
    """About four shards per worker, never one task per host, and at most MAX_SHARD
    targets in one (a shard's evidence arrives whole: 1,250 hosts' worth was 100 MB)."""
    return max(1, min(MAX_SHARD, math.ceil(total / (max(1, workers) * 4))))


def reachable(address: str, timeout: float = 10.0) -> int:
    """The number of workers of the scheduler at ``address``; ExecutorUnavailable when it
    cannot be reached or has no worker."""
    with _client(address, timeout) as client:
        workers = _workers(client)
    if not workers:
        raise ExecutorUnavailable(f"the Dask scheduler at {address} has no worker")
    return workers


def collect_shard(
    targets: Sequence[Target],
    accept_new_host_keys: bool,
    concurrency: int,
    catalog: Any = None,
    selection: Any = None,
) -> Shard:
    """Run on a worker: collect one shard, targets in parallel, in the shard's order;
    with a catalog and selection, judge each target there too."""
    from cisaudit.api import RunBuilder, collect_target

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        found = list(pool.map(lambda t: collect_target(t, accept_new_host_keys), targets))
    if catalog is None or selection is None:
        return Shard(found)
    builder = RunBuilder(catalog, selection)
    results = [builder.judge(item) for item in found]
    return Shard(found, results, builder.controls, builder.sections)


def collect_on_dask(
    address: str,
    targets: Sequence[Target],
    *,
    accept_new_host_keys: bool,
    concurrency: int,
    sink: Callable[[int, TargetEvidence, TargetResult | None], None],
    catalog: Any = None,
    selection: Any = None,
    absorb: Callable[[Shard], None] | None = None,
    connect_timeout: float = 10.0,
) -> bool:
    """Collect (and, given a catalog and selection, judge) every target on the cluster
    at ``address``, handing each target's evidence and result to ``sink`` (with its
    position) as its shard completes, after ``absorb`` has taken the shard's controls;
    whether the run was interrupted (targets of unfinished shards never reach ``sink``)."""
    client = _client(address, connect_timeout)
    from distributed import as_completed

    try:
        size = _shard_size(len(targets), _workers(client))
        shards = [list(targets[i : i + size]) for i in range(0, len(targets), size)]
        # the catalog (about 1 MB) goes to every worker once, not with every shard
        shipped = (
            client.scatter([catalog, selection], broadcast=True)
            if catalog is not None
            else [None, None]
        )
        futures = {
            client.submit(
                collect_shard,
                shard,
                accept_new_host_keys,
                concurrency,
                shipped[0],
                shipped[1],
                key=f"cisaudit-shard-{n}-{id(shards)}",
                retries=3,
                pure=False,
            ): n
            for n, shard in enumerate(shards)
        }
        interrupted = False
        try:
            for future in as_completed(list(futures), loop=client.loop):
                n = futures.pop(future)
                shard = future.result()
                if absorb is not None:
                    absorb(shard)
                results = shard.results or [None] * len(shard.evidence)
                for offset, (evidence, result) in enumerate(
                    zip(shard.evidence, results, strict=True)
                ):
                    sink(n * size + offset, evidence, result)
                future.release()  # the shard is the sink's now
        except KeyboardInterrupt:
            interrupted = True
            client.cancel([f for f in futures if not f.done()])
        return interrupted
    finally:
        client.close()


def shard_sizes(total: int, workers: int) -> list[int]:
    """How ``total`` targets are cut for ``workers`` workers (for docs and tests)."""
    size = _shard_size(total, workers)
    return [min(size, total - i) for i in range(0, total, size)]
