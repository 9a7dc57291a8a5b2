"""Run a batch function over many items, in this process or fanned out as Ray tasks.

Both ways give the same results in the same order, so a Ray run writes the same output as a
local one. On Ray, the driver loads each item (``load``, e.g. reading the file's bytes) and ships
it with the task, so workers on other nodes need no copy of the raw data; at most a few batches
per CPU are in flight, which bounds the memory the object store holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from v2f_bench.errors import UserError
from v2f_bench.progress import progress

BATCH_SIZE = 8
IN_FLIGHT_PER_CPU = 2


def map_batches(
    batch_fn: Callable[..., list],
    items: Sequence,
    load: Callable,
    args: tuple,
    address: str | None,
    desc: str,
    unit: str,
    batch_size: int = BATCH_SIZE,
) -> list:
    """``batch_fn([load(item), ...], *args)`` over all items; ``address`` None runs here, else on Ray."""
    if address is None:
        return [batch_fn([load(item)], *args)[0] for item in progress(items, desc, unit=unit)]
    with ray_session(address):
        return _map_on_ray(batch_fn, items, load, args, desc, unit, batch_size)


def _map_on_ray(batch_fn, items, load, args, desc, unit, batch_size) -> list:
    import ray

    remote = ray.remote(batch_fn)
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    results: list = [None] * len(batches)
    max_in_flight = max(2, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
    pending: dict = {}
    bar = progress(None, f"{desc} (ray)", total=len(items), unit=unit)

    def collect_one() -> None:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        results[index] = ray.get(done[0])
        bar.update(len(batches[index]))

    for index, batch in enumerate(batches):
        while len(pending) >= max_in_flight:
            collect_one()
        pending[remote.remote([load(item) for item in batch], *args)] = index
    while pending:
        collect_one()
    bar.close()
    return [item for batch in results for item in batch]


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[None]:
    """Use the Ray session already open, or start one: ``local`` starts a private local instance
    (dashboard off), anything else (``auto``, ``ray://host:10001``, ``host:6379``) connects to a
    running cluster. A session started here is shut down on exit. ``local`` is passed to Ray as
    ``address="local"``: without an address Ray joins whatever cluster ``/tmp/ray/ray_current_cluster``
    names, and a stale one (left by ``ray start`` or a crashed run) made it hang for good."""
    import ray

    from v2f_bench.console import ray_init_options

    if ray.is_initialized():
        yield
        return
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **ray_init_options())
        else:
            ray.init(address=address, **ray_init_options())
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"--address {address}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]}); start one with `ray start --head` or use --address local") from None
    try:
        yield
    finally:
        ray.shutdown()
