"""Where `evsim.parallel.run_dataset` runs its chunks: worker processes on this machine, or a Dask cluster.

Both are generators of chunk results (`evsim.parallel._run_chunk`'s dicts) in the order chunks finish, keeping at
most two chunks per worker in flight, and sending the network once per worker: the pool's initializer unpickles it
into the worker (`worker_network`), Dask scatters it to every worker. A chunk whose worker died comes back as
failed samples (``columns`` empty, an error per sample), and the run goes on.
"""

from __future__ import annotations

import pickle
import signal
from typing import Any, Iterator

from .errors import EvsimError
from .network import Network

__all__ = ["map_processes", "map_dask", "worker_network"]

CONNECT_TIMEOUT = "20s"  # how long to wait for a Dask scheduler before giving up

_WORKER_NET: Network | None = None


def _init_worker(payload: bytes) -> None:
    """Pool initializer: the network, once per worker process; Ctrl-C is the parent's to handle."""
    global _WORKER_NET
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_NET = pickle.loads(payload)  # our own bytes, made by the parent from an evsim.Network


def worker_network() -> Network:
    if _WORKER_NET is None:
        raise EvsimError("a worker process started without its network")
    return _WORKER_NET


def _pool(net: Network, workers: int) -> Any:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker (no fork of a process with threads); the network goes once, pickled
    return ProcessPoolExecutor(
        workers, mp.get_context("spawn"), initializer=_init_worker, initargs=(pickle.dumps(net),)
    )


def _lost(chunk: list, why: str) -> dict:
    return {"columns": {}, "errors": {int(it[0]): why for it in chunk}}


def map_processes(
    net: Network, workers: int, chunks: Iterator[list], seed: int, opts: dict | None = None
) -> Iterator[dict]:
    """Chunk results as they finish, from a pool of ``workers`` processes, at most two chunks per worker in
    flight. A worker that dies (killed, out of memory) takes the chunks in flight with it: they are reported as
    failed and a new pool goes on with the rest."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from .parallel import _run_chunk

    died = "the worker process died while this sample was in flight (killed, or out of memory); --resume runs it again"
    pool = _pool(net, workers)
    inflight: dict[Any, list] = {}

    def flush() -> Iterator[dict]:
        """The broken pool's chunks: the results of those that finished, the others lost."""
        for f, c in list(inflight.items()):
            ok = f.done() and not f.cancelled() and f.exception() is None
            yield f.result() if ok else _lost(c, died)
        inflight.clear()

    more = True
    try:
        while True:
            while more and len(inflight) < 2 * workers:
                c = next(chunks, None)
                if c is None:
                    more = False
                    break
                try:
                    inflight[pool.submit(_run_chunk, c, None, seed, opts)] = c
                except BrokenProcessPool:  # a worker died since the last wait: a new pool, c goes to it
                    yield from flush()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _pool(net, workers)
                    inflight[pool.submit(_run_chunk, c, None, seed, opts)] = c
            if not inflight:
                return
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                yield from flush()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _pool(net, workers)
                continue
            for f in done:
                c = inflight.pop(f)
                e = f.exception()
                yield f.result() if e is None else _lost(c, f"{type(e).__name__}: {e}")
    finally:
        _stop(pool)


def _stop(pool: Any) -> None:
    procs = list(getattr(pool, "_processes", {}).values())  # (no public handle on the workers)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(5)


def map_dask(
    net: Network, scheduler: Any, chunks: Iterator[list], seed: int, opts: dict | None = None
) -> Iterator[dict]:
    """Chunk results as they finish on a Dask cluster: the network scattered to every worker once, chunks
    submitted as others finish (two per worker in flight). A chunk whose task fails (a worker lost) is reported
    as failed."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise EvsimError("a Dask scheduler needs dask.distributed: pip install 'evsim[dask]'") from None
    from .parallel import _run_chunk

    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT) if own else scheduler
    except (OSError, TimeoutError) as e:
        raise EvsimError(f"cannot reach the Dask scheduler {scheduler!r}: {e}") from None
    try:
        net_f = client.scatter(net, broadcast=True)
        width = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        inflight: dict[Any, list] = {}
        ac = as_completed()

        def submit() -> bool:
            c = next(chunks, None)
            if c is None:
                return False
            f = client.submit(_run_chunk, c, net_f, seed, opts, pure=False)
            inflight[f] = c
            ac.add(f)
            return True

        more = True
        while more and len(inflight) < width:
            more = submit()
        for f in ac:
            c = inflight.pop(f)
            try:
                yield f.result()
            except Exception as e:  # noqa: BLE001 - a lost worker (KilledWorker) or a task error: the chunk failed
                yield _lost(c, f"Dask task failed ({type(e).__name__}: {e}); --resume runs it again")
            if more:
                more = submit()
        return
    finally:
        for f in list(locals().get("inflight", {})):
            f.cancel()
        if own:
            client.close()
