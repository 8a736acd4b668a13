"""The Flower engine: the simulation engine matches the in-process engine, and a real
loopback deployment (SuperLink + 2 SuperNodes + ``flwr run``) finishes a round.

Slow by nature (Ray's start-up, a fresh process per deployment message): each test runs
the smallest case, 2 clients. Set HYPERNETWORKS_SKIP_FLOWER=1 to skip them.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("flwr")
pytest.importorskip("ray")

from hypernetworks.datasets import client_datasets, load_digits, partition_pathological  # noqa: E402
from hypernetworks.federated import simulate, write_flower_app  # noqa: E402

slow = pytest.mark.skipif(
    os.environ.get("HYPERNETWORKS_SKIP_FLOWER") == "1", reason="HYPERNETWORKS_SKIP_FLOWER=1"
)


@slow
# Ray leaves its /dev/null handles to the garbage collector (a ResourceWarning in Ray's own code)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_flower_simulation_gives_the_local_engines_figures():
    x, y = load_digits()
    clients = client_datasets(x, y, partition_pathological(y, 2, seed=0), seed=0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    common = {"method": "pfedhn-pc", "rounds": 2, "seed": 0, "local_steps": 10}
    local = simulate(clients, net, engine="local", **common)
    flower = simulate(clients, net, engine="flower", **common)
    assert flower.client_accuracies == pytest.approx(local.client_accuracies, abs=1e-6)
    assert [h["round"] for h in flower.history] == [1, 2]
    # the personal classifier came back from the node, so the model can be materialized
    with torch.no_grad():
        acc = float(
            (flower.materialize(1)(clients[1][2]).argmax(-1) == clients[1][3]).double().mean()
        )
    assert acc == pytest.approx(flower.client_accuracies[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@slow
def test_loopback_deployment_with_two_supernodes(tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FLWR_HOME": str(tmp_path / "home"),
        "FLWR_TELEMETRY_ENABLED": "0",
        "OMP_NUM_THREADS": "1",
    }
    port = _free_port()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text(
        f'[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
        f'address = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    app = write_flower_app(
        tmp_path / "app",
        benchmark="digits",
        method="pfedhn",
        clients=2,
        rounds=1,
        local_steps=5,
        out=str(tmp_path / "out"),
    )
    started, logs = [], []

    def start(*args: str) -> None:
        logs.append(open(tmp_path / f"{len(started)}.log", "w"))  # noqa: SIM115 (closed below)
        started.append(
            subprocess.Popen(
                list(args),
                env=env,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=tmp_path,
            )
        )

    try:
        start(
            str(bin_dir / "flower-superlink"),
            "--insecure",
            "--port",
            str(port),
            "--disable-runtime-dependency-installation",
            "--database",
            str(tmp_path / "link.db"),
        )
        _wait_for_port(port, 60)
        for i in range(2):
            start(
                str(bin_dir / "flower-supernode"),
                "--insecure",
                "--superlink",
                f"127.0.0.1:{port}",
                "--port",
                str(_free_port()),
                "--node-config",
                f"partition-id={i} num-partitions=2",
            )
        done = subprocess.run(
            [str(bin_dir / "flwr"), "run", str(app), "loopback", "--stream"],
            env=env,
            capture_output=True,
            text=True,
            timeout=500,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    finally:
        for process in started:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in started:
            process.wait(timeout=30)
        for log in logs:
            log.close()
    assert metrics["method"] == "pfedhn" and metrics["engine"] == "flower-deployment"
    assert len(metrics["client_accuracies"]) == 2
    assert all(0.0 <= a <= 1.0 for a in metrics["client_accuracies"])
    assert [h["round"] for h in metrics["history"]] == [1]
