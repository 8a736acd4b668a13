"""Runs you can trust: the runner's guarantees, checked through the recipes' real entry points."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from hypernetworks import continual
from hypernetworks.cli import main
from hypernetworks.runner import (
    CheckpointError,
    NonFiniteError,
    OutputBusyError,
    OutputLock,
    Run,
    format_table,
)

SMALL = [
    "continual",
    "--benchmark",
    "split-digits",
    "--tasks",
    "2",
    "--iterations",
    "15",
    "--no-progress",
]


def _results(path) -> dict:
    """metrics.json without its wall-clock figures (keys ending in seconds or _s)."""
    metrics = json.loads(path.read_text())
    return {k: v for k, v in metrics.items() if not (k.endswith("seconds") or k.endswith("_s"))}


def test_two_processes_with_the_same_seed_write_identical_metrics(tmp_path):
    for name in ("a", "b"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hypernetworks.cli",
                *SMALL,
                "--seed",
                "3",
                "--out",
                str(tmp_path / name),
            ],
            check=True,
            capture_output=True,
        )
    first, second = (
        _results(tmp_path / "a" / "metrics.json"),
        _results(tmp_path / "b" / "metrics.json"),
    )
    assert first == second
    assert first["config"]["lr"] == 0.001 and first["seed"] == 3


class _NaNAfter(nn.Module):
    """An MLP whose training forward returns NaN from its ``after``-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        self.after, self.calls = after, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                out = out * float("nan")
        return out


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    tasks = continual.permuted_digits(2)
    # 10 steps per task: the first task finishes; step 4 of task 2 is the 15th training call.
    with pytest.raises(NonFiniteError, match="the loss became nan at step 4 of task 2"):
        continual.run(
            tasks, _NaNAfter(after=14), "finetune", iterations=10, progress=False, out=tmp_path
        )
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert len(saved["state"]["matrix"]) == 1  # task 1's checkpoint survived, unharmed
    assert all(
        torch.isfinite(v).all() for v in saved["state"]["learner"].values() if v.is_floating_point()
    )
    assert not (tmp_path / "metrics.json").exists()


def test_resume_with_another_configuration_is_refused_naming_the_fields(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert main(SMALL + out) == 0
    capsys.readouterr()
    assert main(SMALL + out + ["--resume", "--lr", "0.01", "--seed", "1"]) == 1
    error = capsys.readouterr().err
    assert f"refusing to resume from {tmp_path / 'checkpoint.pt'}" in error
    assert "lr: 0.001 in the checkpoint, 0.01 now" in error
    assert "seed: 0 in the checkpoint, 1 now" in error


def test_a_concurrent_run_on_the_same_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(continual.HNet, "learn", _never_called)
    lock = OutputLock(tmp_path)
    lock.acquire()  # another run holds the folder
    try:
        assert main(SMALL + ["--out", str(tmp_path)]) == 1
    finally:
        lock.release()
    assert "another run (pid " in capsys.readouterr().err
    with pytest.raises(OutputBusyError, match=f"is writing to {tmp_path}"):
        with Run("x", {}, out=tmp_path), Run("x", {}, out=tmp_path):
            pass


def _never_called(*args, **kwargs):
    raise AssertionError("training started although the run should have stopped first")


@pytest.mark.parametrize("value, shown", [("0", "0"), ("-3", "-3"), ("two", "'two'")])
def test_bad_task_counts_are_rejected(value, shown, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["continual", "--tasks", value])
    assert exit_info.value.code == 2
    assert f"--tasks: expected an integer >= 1, got {shown}" in capsys.readouterr().err


def test_an_unwritable_out_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(continual.HNet, "learn", _never_called)
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    assert main(SMALL + ["--out", str(file)]) == 1
    assert f"--out {file} is a file, not a folder" in capsys.readouterr().err
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not _writable(locked):  # root may write anyway
            assert main(SMALL + ["--out", str(locked / "run")]) == 1
            assert f"cannot write to --out {locked / 'run'}" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def _writable(folder) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_a_corrupt_checkpoint_names_its_path_and_a_safe_way_forward(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x02not a checkpoint")
    assert main(SMALL + ["--out", str(tmp_path), "--resume"]) == 1
    error = capsys.readouterr().err
    assert f"{tmp_path / 'checkpoint.pt'} is not a readable hypernetworks checkpoint" in error
    assert "Do not load it with weights_only=False" in error
    torch.save({"weights": torch.ones(2)}, tmp_path / "checkpoint.pt")  # a foreign file
    with pytest.raises(CheckpointError, match="was not written by the hypernetworks runner"):
        with Run("continual", {}, out=tmp_path, resume=True):
            pass


def test_resume_without_a_checkpoint_or_without_out_is_explained(tmp_path):
    with pytest.raises(CheckpointError, match="there is no checkpoint at .* to resume from"):
        with Run("continual", {}, out=tmp_path, resume=True):
            pass
    with pytest.raises(ValueError, match=r"--resume needs --out"):
        Run("continual", {}, resume=True)


def test_a_run_restores_the_random_state_and_threads_it_found():
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    expected = torch.rand(3)
    torch.manual_seed(123)
    with Run("x", {}, seed=7, threads=threads + 1):
        inside = torch.rand(3)
        assert torch.get_num_threads() == threads + 1
    assert torch.equal(torch.rand(3), expected) and torch.get_num_threads() == threads
    with Run("x", {}, seed=7):
        assert torch.equal(torch.rand(3), inside)  # the seed decides what happens inside


def test_metrics_and_figures_are_written_whole(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Run("x", {"a": [1, 2]}, out=tmp_path, seed=2) as run:
        run.write_metrics({"accuracy": 0.5})
        figure, axis = plt.subplots()
        axis.plot([0, 1])
        run.save_figure(figure, "curve.png")
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "recipe": "x",
        "config": {"a": [1, 2]},
        "seed": 2,
        "accuracy": 0.5,
    }
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "curve.png", "metrics.json"]
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        with Run("x", {}, out=tmp_path) as run:
            run.write_metrics({"accuracy": float("nan")})


def test_configuration_values_must_be_json_like():
    with pytest.raises(TypeError, match=r"config\['head'\] must hold only None, bool, int"):
        Run("x", {"head": object()})


def test_format_table_aligns_and_marks_missing_values():
    text = format_table(
        [{"m": "a", "v": 1.0}, {"m": "bb", "v": None}], [("m", "method", ""), ("v", "value", ".2f")]
    )
    assert text.splitlines() == ["method  value", "------  -----", "a        1.00", "bb          -"]
