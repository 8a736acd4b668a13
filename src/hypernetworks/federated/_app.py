"""The Flower app for a real deployment: ``server_app`` and ``client_app`` built from the
run configuration, and :func:`write_flower_app`, which writes the app folder ``flwr run``
submits (its ``pyproject.toml`` lists no dependencies: torch and hypernetworks must already
be installed where the SuperLink and SuperNodes run).

Each SuperNode is started with ``--node-config "partition-id=I num-partitions=N"``; client
``I`` rebuilds the benchmark's partition from the run configuration and the seed, and keeps
its own share. The server writes ``metrics.json`` into the run configuration's ``out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ._benchmarks import BENCHMARKS, federated_data
from ._flower import make_client_app, make_server_app
from ._protocol import ClientData, Method, Settings

__all__ = ["RUN_CONFIG", "make_apps", "write_flower_app"]

RUN_CONFIG: dict[str, object] = {
    "benchmark": "digits",
    "method": "pfedhn",
    "clients": 2,
    "rounds": 2,
    "partition": "pathological",
    "alpha": 0.5,
    "new-fraction": 0.0,
    "seed": 0,
    "clients-per-round": 2,
    "local-steps": 20,
    "eval-every": 1,
    "out": "",
}
_STARTED: dict[int, float] = {}


def _config(context: Any) -> dict[str, Any]:
    return {**RUN_CONFIG, **dict(context.run_config)}


def _build(cfg: dict[str, Any]) -> tuple[Method, list[ClientData], int]:
    from ._simulate import build_method

    seed = int(cfg["seed"])
    train, new = federated_data(
        str(cfg["benchmark"]),
        int(cfg["clients"]),
        partition=str(cfg["partition"]),
        alpha=float(cfg["alpha"]),
        new_fraction=float(cfg["new-fraction"]),
        seed=seed,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        target = BENCHMARKS[str(cfg["benchmark"])][1]()
    settings = Settings(
        clients_per_round=int(cfg["clients-per-round"]),
        local_steps=int(cfg["local-steps"]),
        eval_every=int(cfg["eval-every"]),
    )
    method = build_method(
        str(cfg["method"]),
        target,
        len(train),
        seed=seed,
        num_classes=10,
        input_shape=tuple(train[0][0].shape[1:]),
        settings=settings,
    )
    return method, train + new, len(new)


def _server_build(context: Any) -> tuple[Method, int, int]:
    cfg = _config(context)
    method, _, num_new = _build(cfg)
    _STARTED[context.run_id] = time.perf_counter()
    return method, int(cfg["rounds"]), num_new


def _server_done(strategy: Any, context: Any) -> None:
    cfg = _config(context)
    recorder = strategy.recorder
    accuracies = recorder.client_accuracies
    metrics = {
        "method": strategy.method.name,
        "rounds": int(cfg["rounds"]),
        "mean_client_accuracy": sum(accuracies) / len(accuracies),
        "client_accuracies": accuracies,
        "new_client_accuracy": (
            None
            if not recorder.new_client_accuracies
            else sum(recorder.new_client_accuracies) / len(recorder.new_client_accuracies)
        ),
        "history": [
            {"round": h["round"], "mean_client_accuracy": h["mean_client_accuracy"]}
            for h in recorder.history
        ],
        "seconds": time.perf_counter() - _STARTED.pop(context.run_id, time.perf_counter()),
        "engine": "flower-deployment",
        "config": cfg,
    }
    if cfg["out"]:
        folder = Path(str(cfg["out"]))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))


def _client_setup(context: Any) -> tuple[Method, ClientData, int]:
    method, data, _ = _build(_config(context))
    client = int(context.node_config["partition-id"])
    if not 0 <= client < len(data):
        raise ValueError(f"partition-id (={client}) must be below the run's clients (={len(data)})")
    return method, data[client], client


def make_apps() -> tuple[Any, Any]:
    """``(server_app, client_app)`` for a deployment, configured by the run configuration."""
    return make_server_app(_server_build, _server_done), make_client_app(_client_setup)


def write_flower_app(folder: str | Path, **run_config: object) -> Path:
    """Write a Flower app folder for ``flwr run`` (pyproject.toml and a module naming the apps).

    Args:
        folder: where to write (created if missing).
        **run_config: defaults of the run configuration (``-`` for ``_``), e.g.
            ``method="pefll", rounds=5``; see :data:`RUN_CONFIG`.

    Returns:
        The folder.

    Raises:
        ValueError: an unknown run-configuration key.

    Example:
        >>> import tempfile
        >>> from hypernetworks.federated import write_flower_app
        >>> path = write_flower_app(tempfile.mkdtemp(), method="pefll")
        >>> sorted(p.name for p in path.iterdir())
        ['hypernetworks_flower_app.py', 'pyproject.toml']
    """
    values = {k.replace("_", "-"): v for k, v in run_config.items()}
    unknown = sorted(set(values) - set(RUN_CONFIG))
    if unknown:
        raise ValueError(
            f"unknown run-configuration keys {unknown}; expected some of {sorted(RUN_CONFIG)}"
        )
    values = {**RUN_CONFIG, **values}
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    (path / "pyproject.toml").write_text(f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "hypernetworks-flower-app"
version = "1.0.0"
description = "hypernetworks.federated as a Flower app"
# No dependencies on purpose: torch must never be installed by `flwr run` (5 GB of CUDA).
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "hypernetworks"

[tool.flwr.app.components]
serverapp = "hypernetworks_flower_app:server_app"
clientapp = "hypernetworks_flower_app:client_app"

[tool.flwr.app.config]
{config}
""")
    (path / "hypernetworks_flower_app.py").write_text(
        '"""The hypernetworks.federated Flower apps (see hypernetworks/federated/_app.py)."""\n\n'
        "from hypernetworks.federated._app import make_apps\n\n"
        "server_app, client_app = make_apps()\n\n"
        '__all__ = ["client_app", "server_app"]\n'
    )
    return path
