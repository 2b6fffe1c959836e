"""Multi-process training on PyTorch's own engine: torchrun, DDP, NCCL on GPU, gloo on CPU.

Nothing here replaces ``torch.distributed``; it only removes the boilerplate around it:

- :func:`init_distributed` / :func:`cleanup`: join the process group that ``torchrun`` describes
  in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...), with NCCL
  when the ranks train on GPUs and gloo on CPU; a no-op in a plain ``python`` process.
- :func:`rank`, :func:`world_size`, :func:`is_main_process`, :func:`barrier`.
- :func:`all_gather_tensor` (uneven sizes allowed), :func:`all_gather_object`,
  :func:`reduce_mean`, :func:`broadcast_object`: gathering predictions and metrics.
- :func:`launch`: start ``nprocs`` local processes running a function (a test or a notebook
  helper; the command line uses ``torchrun``).
- ``python -m audiolib.distributed``: run a notebook's experiment under torchrun (below).

:func:`audiolib.train.fit` needs nothing more: under an initialised process group it wraps the
model in ``DistributedDataParallel``, gives each rank its share of every global mini-batch,
averages the logged loss over ranks, evaluates with the rows split over ranks and gathered, and
writes checkpoints from rank 0 only.

Running a notebook's experiment on N GPUs
-----------------------------------------
papermill executes a notebook in one kernel, which cannot host several ranks. The runner below
executes the same notebook's code cells, with its parameters injected exactly as ``python -m
audiolib.run`` injects them, in every rank that ``torchrun`` starts::

    # one machine, 8 GPUs (NCCL)
    torchrun --standalone --nproc_per_node=8 -m audiolib.distributed --profile full --only 01

    # two machines with 8 GPUs each: the same command on both, node_rank 0 and 1
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
        --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 --rdzv_id=h17 \\
        -m audiolib.distributed --profile full --only 01

    # on CPU (gloo), e.g. to check a set-up on a laptop
    torchrun --standalone --nproc_per_node=2 -m audiolib.distributed --profile smoke --only 01 --device cpu

Rank 0 makes the run folder (``results/<experiment>/<stamp>-<profile>-<hex>/``) and is the only
one writing into it; the other ranks write their (identical) tables into a scratch folder that
is deleted at the end. Several nodes need ``results/`` and ``data/`` on a shared file system, or
a feature cache built beforehand on each node.

>>> info = init_distributed()          # outside torchrun: nothing to join
>>> (info.rank, info.world_size)
(0, 1)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import socket
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo", "init_distributed", "cleanup", "launched_by_torchrun", "rank", "world_size", "is_main_process",
    "barrier", "is_distributed", "all_gather_tensor", "all_gather_object", "broadcast_object", "reduce_mean",
    "shard_range", "launch", "torchrun_command", "main",
]

#: Seconds a collective may wait for the slowest rank (feature extraction can keep one busy).
DEFAULT_TIMEOUT_S = 3600


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node,
    ``backend`` (``"nccl"``, ``"gloo"`` or ``None`` outside a process group) and the ``device``
    its model should live on."""

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device


def launched_by_torchrun() -> bool:
    """True when the environment describes a rank (``torchrun`` or :func:`launch` set it)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 outside a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of ranks (1 outside a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0, the only rank that writes results and checkpoints."""
    return rank() == 0


def local_rank() -> int:
    """The rank on this node (``LOCAL_RANK``; 0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def _device_for(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda", local_rank()) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA device is available; use 'auto' or 'cpu'")
        if device.index is None:
            device = torch.device("cuda", local_rank())
    return device


def init_distributed(backend: str | None = None, *, device: str | torch.device | None = "auto",
                     timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join the process group described by the environment (idempotent).

    Args:
        backend: ``"nccl"`` / ``"gloo"``; default NCCL when the ranks use CUDA, else gloo.
        device: ``"auto"`` (``cuda:LOCAL_RANK`` when CUDA is present, else CPU), ``"cpu"`` or
            ``"cuda"``. On CUDA the current device is set to ``cuda:LOCAL_RANK``.
        timeout_s: how long a collective waits for the slowest rank.

    Returns:
        :class:`DistInfo`. Outside torchrun (no ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the
        environment) nothing is joined and the result is ``rank 0 of 1``.
    """
    dev = _device_for(device)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank(), dist.get_backend(), dev)
    if not launched_by_torchrun():
        return DistInfo(0, 1, 0, None, dev)
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; cannot run under torchrun")
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo', got {backend!r}")
    if backend == "nccl" and dev.type != "cuda":
        raise ValueError("backend='nccl' needs CUDA devices; use backend='gloo' on CPU")
    kwargs: dict[str, Any] = {"timeout": datetime.timedelta(seconds=timeout_s)}
    if dev.type == "cuda":
        if dev.index >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {dev.index} but this node has {torch.cuda.device_count()} GPU(s); "
                             "start at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(dev)
        if backend == "nccl":
            kwargs["device_id"] = dev
    dist.init_process_group(backend=backend, **kwargs)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank(), backend, dev)


def cleanup() -> None:
    """Leave the process group (after a barrier, so no rank exits while others still talk)."""
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (a no-op outside a process group)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_gather_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0, in rank order, on every rank.

    Ranks may hold different numbers of rows (the rest of the shape must agree). Returns the
    input itself outside a process group; the result lives on the input's device.

    >>> all_gather_tensor(torch.arange(3)).tolist()   # a single process: unchanged
    [0, 1, 2]
    """
    if not is_distributed():
        return tensor
    comm = _comm_device()
    local = tensor.detach().to(comm).contiguous()
    sizes = [torch.zeros(1, dtype=torch.long, device=comm) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.long, device=comm))
    sizes_int = [int(s.item()) for s in sizes]
    longest = max(sizes_int)
    if local.shape[0] < longest:
        pad = torch.zeros((longest - local.shape[0], *local.shape[1:]), dtype=local.dtype, device=comm)
        local = torch.cat([local, pad])
    parts = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(parts, local)
    return torch.cat([p[:n] for p, n in zip(parts, sizes_int)]).to(tensor.device)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order (``[obj]`` outside a process group)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself outside a process group)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def reduce_mean(values: dict[str, float] | torch.Tensor, weight: float = 1.0):
    """Weighted mean over ranks of a tensor or of a dict of numbers.

    Each rank contributes ``weight`` (e.g. its number of examples): the result is
    ``sum_r w_r v_r / sum_r w_r`` on every rank. Outside a process group: ``values``.
    """
    if not is_distributed():
        return values
    comm = _comm_device()
    if isinstance(values, torch.Tensor):
        flat = values.detach().to(comm, torch.float64).reshape(-1)
        keys = None
    else:
        keys = sorted(values)
        flat = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=comm)
    packed = torch.cat([flat * weight, torch.tensor([weight], dtype=torch.float64, device=comm)])
    dist.all_reduce(packed)
    mean = packed[:-1] / packed[-1]
    if keys is None:
        return mean.reshape(values.shape).to(values.device, values.dtype)
    return {k: float(v) for k, v in zip(keys, mean.tolist())}


def shard_range(n: int, rank_: int | None = None, world: int | None = None) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of ``n`` rows owned by ``rank_`` of ``world`` (sizes differ by <= 1).

    >>> [shard_range(10, r, 3) for r in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    return n * rank_ // world, n * (rank_ + 1) // world


# --- launching ----------------------------------------------------------------------------------
def free_port() -> int:
    """An unused TCP port on this machine (for a local rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch_worker(local: int, fn: Callable, args: tuple, nprocs: int, port: int, backend: str | None,
                   device: str, queue) -> None:
    os.environ.update({"RANK": str(local), "LOCAL_RANK": str(local), "WORLD_SIZE": str(nprocs),
                       "LOCAL_WORLD_SIZE": str(nprocs), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    try:
        init_distributed(backend, device=device)
        result = fn(*args)
        queue.put((local, "ok", result))
    except BaseException as exc:  # reported to the parent with the traceback
        queue.put((local, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        raise
    finally:
        cleanup()


def launch(fn: Callable, nprocs: int, args: Sequence = (), *, backend: str | None = None, device: str = "auto",
           timeout_s: float = 600) -> list[Any]:
    """Run ``fn(*args)`` in ``nprocs`` new local processes joined in one process group.

    ``fn`` must be importable by name (defined at module level in a module, not in a notebook
    cell), and its result picklable. Each process sees the torchrun environment variables, so
    :func:`audiolib.train.fit` trains with DDP inside ``fn``. The command-line way is
    ``torchrun``; this is for tests and for calling from Python.

    Returns:
        ``[fn's result on rank 0, ..., on rank nprocs - 1]``.

    Raises:
        RuntimeError naming the failed rank(s) with their tracebacks.
    """
    import queue as queue_mod

    import torch.multiprocessing as mp

    if nprocs < 1:
        raise ValueError(f"launch: nprocs must be >= 1, got {nprocs}")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_launch_worker, args=(r, fn, tuple(args), nprocs, port, backend, device, q))
             for r in range(nprocs)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    errors: dict[int, str] = {}
    try:
        while len(results) + len(errors) < nprocs:
            try:
                r, status, value = q.get(timeout=timeout_s)
            except queue_mod.Empty:
                raise RuntimeError(f"launch: no answer from the ranks within {timeout_s} s") from None
            (results if status == "ok" else errors)[r] = value
            if errors:
                break
    finally:
        for p in procs:
            p.join(timeout=30 if not errors else 5)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:
        text = "\n".join(f"rank {r}: {msg}" for r, msg in sorted(errors.items()))
        raise RuntimeError(f"launch: {len(errors)} rank(s) failed\n{text}")
    return [results[r] for r in range(nprocs)]


def torchrun_command(nproc_per_node: int, *args: str, nnodes: int = 1, node_rank: int = 0,
                     rdzv_endpoint: str | None = None, rdzv_id: str = "audiolib", torchrun: str = "torchrun") -> list[str]:
    """The ``torchrun`` argv that runs ``python -m audiolib.distributed *args`` on this node.

    >>> " ".join(torchrun_command(8, "--profile", "full", "--only", "01"))
    'torchrun --standalone --nproc_per_node=8 -m audiolib.distributed --profile full --only 01'
    >>> " ".join(torchrun_command(8, "--only", "01", nnodes=2, node_rank=1, rdzv_endpoint="n0:29500"))[:80]
    'torchrun --nnodes=2 --node_rank=1 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_'
    """
    if nnodes == 1:
        head = [torchrun, "--standalone", f"--nproc_per_node={nproc_per_node}"]
    else:
        if not rdzv_endpoint:
            raise ValueError("torchrun_command: several nodes need rdzv_endpoint='HOST:PORT' of one node")
        head = [torchrun, f"--nnodes={nnodes}", f"--node_rank={node_rank}", f"--nproc_per_node={nproc_per_node}",
                "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}", f"--rdzv_id={rdzv_id}"]
    return [*head, "-m", "audiolib.distributed", *args]


# --- the notebook runner ------------------------------------------------------------------------
def notebook_code(notebook: str | Path, values: dict[str, Any]) -> list[tuple[str, str]]:
    """``[(label, source)]`` of ``notebook``'s code cells with ``values`` injected after the
    parameters cell (as papermill does). IPython magics and shell lines (``%``, ``!``) are
    dropped: they have no meaning outside a kernel."""
    from .params import ParameterError

    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells, seen_parameters = [], False
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
        cells.append((f"{Path(notebook).name} cell {i}", src))
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            seen_parameters = True
            injected = "\n".join(f"{k} = {v!r}" for k, v in values.items())
            cells.append((f"{Path(notebook).name} injected parameters", injected))
    if not seen_parameters:
        raise ParameterError(f"{notebook}: no cell tagged 'parameters'")
    return cells


def _display(*objs, **_):
    if is_main_process():
        for obj in objs:
            print(obj.to_string() if hasattr(obj, "to_string") else obj)


def run_notebook(notebook: str | Path, values: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Execute ``notebook``'s code with ``values`` in this process (every rank calls it).

    The cells run in order in one namespace, in the notebook's folder (as papermill runs them),
    with ``RUN_DIR=run_dir`` and matplotlib's non-interactive backend. Returns the namespace.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    notebook = Path(notebook).resolve()
    values = {**values, "RUN_DIR": str(run_dir)}
    namespace: dict[str, Any] = {"__name__": "__main__", "display": _display}
    quiet = open(os.devnull, "w") if not is_main_process() else None
    cwd = Path.cwd()
    try:
        os.chdir(notebook.parent)
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            for label, src in notebook_code(notebook, values):
                exec(compile(src, f"<{label}>", "exec"), namespace)  # noqa: S102 - the notebook is the program
                try:
                    import matplotlib.pyplot as plt
                    plt.close("all")
                except ImportError:  # pragma: no cover
                    pass
    finally:
        os.chdir(cwd)
        if quiet:
            quiet.close()
    return namespace


def _update_meta(folder: Path, **extra: Any) -> None:
    from .results import write_text_atomic

    path = folder / "meta.json"
    meta = json.loads(path.read_text()) if path.exists() else {"experiment": folder.parent.name}
    meta.update(extra)
    write_text_atomic(path, json.dumps(meta, indent=2, default=str))


def _write_notebook_copy(notebook: Path, values: dict[str, Any], folder: Path, world: int) -> None:
    """The executed program, for provenance: the notebook with the injected parameters cell."""
    from .results import write_text_atomic

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    out_cells = []
    for cell in nb.get("cells", []):
        out_cells.append(cell)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            out_cells.append({"cell_type": "code", "execution_count": None, "outputs": [],
                              "metadata": {"tags": ["injected-parameters"]},
                              "source": "\n".join(f"{k} = {v!r}" for k, v in values.items())})
    nb["cells"] = out_cells
    nb.setdefault("metadata", {})["audiolib"] = {"launcher": "torchrun", "world_size": world}
    write_text_atomic(folder / "notebook.ipynb", json.dumps(nb, indent=1))


def _plan(args) -> list[tuple[str, Path, dict[str, Any], Any]]:
    from . import params, run

    overrides = params.parse_assignments(args.set)
    if args.notebook:
        notebook = Path(args.notebook)
        if not notebook.is_file():
            raise FileNotFoundError(f"--notebook {notebook}: no such file")
        declared = params.notebook_parameters(notebook)
        values = {k: v for k, v in overrides.items()}
        if "PROFILE" in declared:
            values["PROFILE"] = args.profile
        if "DEVICE" in declared and args.device != "auto":
            values["DEVICE"] = args.device
        params.validate(notebook, values)
        return [(notebook.stem, notebook, values, None)]
    planned = []
    for exp, values in run.plan(args.profile, args.only, overrides):
        if args.device != "auto" and "DEVICE" in params.notebook_parameters(exp.notebook):
            values = {**values, "DEVICE": args.device}
        planned.append((exp.name, exp.notebook, values, exp))
    return planned


def main(argv: list[str] | None = None) -> int:
    """``python -m audiolib.distributed``: run notebooks' experiments on every rank of torchrun."""
    parser = argparse.ArgumentParser(
        prog="torchrun [torchrun options] -m audiolib.distributed",
        description="Run the workbook's notebooks under torchrun: every rank executes the notebook's code; "
                    "audiolib.train.fit trains with DDP; rank 0 writes the run folder.")
    parser.add_argument("--profile", choices=("smoke", "quick", "full"), default="full")
    parser.add_argument("--only", default=None, help="registered notebooks whose name contains this text")
    parser.add_argument("--notebook", default=None, help="run this notebook file instead of registered ones")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    parser.add_argument("--results", default=None, help="results root (default: results/)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: one GPU per rank with NCCL when CUDA is present, else CPU with gloo")
    parser.add_argument("--backend", choices=("nccl", "gloo"), default=None)
    args = parser.parse_args(argv)

    from . import paths, results
    from .run import check_outputs

    info = init_distributed(args.backend, device=args.device)
    status_code = 0
    try:
        planned = _plan(args)
        root = Path(args.results) if args.results else paths.results_root()
        for name, notebook, values, exp in planned:
            if info.rank == 0:
                folder = results.new_run_folder(name, args.profile, root)
                print(f"[{name}] {info.world_size} rank(s), backend {info.backend or 'none'} -> {folder}", flush=True)
            folder = Path(broadcast_object(str(folder) if info.rank == 0 else None))
            scratch = None
            run_dir = folder
            if info.rank != 0:
                scratch = Path(tempfile.mkdtemp(prefix=f"audiolib-rank{info.rank}-"))
                run_dir = scratch / name / folder.name
            status, error = "complete", None
            try:
                run_notebook(notebook, values, run_dir)
            except Exception as exc:
                status, error = "failed", f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            if info.rank == 0:
                _write_notebook_copy(Path(notebook), {**values, "RUN_DIR": str(folder)}, folder, info.world_size)
                missing = check_outputs(exp, folder) if (exp is not None and status == "complete") else []
                if missing:
                    status, error = "failed", f"declared outputs missing: {missing}"
                extra = {"launcher": {"name": "torchrun", "world_size": info.world_size, "backend": info.backend}}
                if status == "failed":
                    extra.update(status="failed", error=error)
                _update_meta(folder, **extra)
                results.update_index(folder.parent.parent)
                print(f"[{name}] {status} -> {folder}", flush=True)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            if status != "complete":
                status_code = 1
                break  # the other ranks may be stuck in a collective: stop here; torchrun ends them
            barrier()
    finally:
        if status_code == 0:
            cleanup()
    return status_code


if __name__ == "__main__":
    sys.exit(main())
