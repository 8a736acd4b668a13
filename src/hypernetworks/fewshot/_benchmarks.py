"""The named few-shot benchmarks: held-out glyph scripts, and glyphs → MNIST-5k.

Every method trains on the glyph set's ``background`` scripts (Latin, Greek, Cyrillic,
Lisu, Arabic, Canadian syllabics) and is tested on 600 5-way episodes of either the
``evaluation`` scripts (Armenian, Georgian, Hebrew, Tifinagh: ``glyphs``) or the 10 MNIST
digits (``glyphs-to-mnist``). The ``validation`` scripts (Ogham, Lao, N'Ko) chose the
defaults. The test episodes depend only on the seed, so every method sees the same ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .. import runner
from ..datasets import load_glyphs, load_mnist
from ._backbone import ConvNet
from ._baselines import MAML, Finetune, ProtoNet
from ._episodes import EpisodeSampler, mean_ci95
from ._harness import evaluate, train
from ._hypershot import HyperShot
from ._learner import FewShotLearner
from ._plots import plot_episodes

__all__ = ["BENCHMARKS", "DEFAULTS", "METHODS", "TEST_SETS", "build", "experiment", "test_data"]

METHODS = ("hypershot", "protonet", "maml", "finetune")

#: Defaults, chosen on the validation scripts with seed 0 (see docs/benchmarks.md).
DEFAULTS: dict[str, Any] = {
    "ways": 5,
    "steps": 600,
    "queries": 10,
    "test_episodes": 600,
    "test_queries": 15,
    "images_per_class": 20,
    "channels": 32,
    "lr": 1e-3,
    "kernel": "euclidean",
    "hidden": 256,
}


def test_data(name: str, *, seed: int, images_per_class: int) -> tuple[Tensor, Tensor]:
    """The test images of a benchmark: ``glyphs`` (evaluation scripts) or ``mnist``.

    Raises:
        ValueError: an unknown name.
    """
    if name == "glyphs":
        return load_glyphs("evaluation", per_class=images_per_class, seed=seed)
    if name == "mnist":
        return load_mnist()
    raise ValueError(f"test set must be one of {sorted(TEST_SETS)}, got {name!r}")


TEST_SETS = {"glyphs": "held-out glyph scripts", "mnist": "MNIST-5k digits"}


def build(
    method: str,
    *,
    ways: int,
    shots: int,
    num_classes: int,
    channels: int = 32,
    kernel: str = "euclidean",
    hidden: int = 256,
) -> FewShotLearner:
    """A fresh method with a fresh :class:`ConvNet` backbone (same for every method).

    Raises:
        ValueError: an unknown method.

    Example:
        >>> from hypernetworks.fewshot import build
        >>> type(build("protonet", ways=5, shots=1, num_classes=10)).__name__
        'ProtoNet'
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    backbone = ConvNet(channels=channels)
    if method == "hypershot":
        return HyperShot(ways, shots, backbone, kernel=kernel, hidden=(hidden, hidden))
    if method == "protonet":
        return ProtoNet(backbone)
    if method == "maml":
        return MAML(ways, backbone)
    return Finetune(num_classes, backbone)


def experiment(
    run: runner.Run,
    *,
    method: str,
    shots: int,
    tests: tuple[str, ...] = ("glyphs",),
    figure: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train ``method`` on the background glyphs, then test it on each of ``tests``.

    Args:
        run: the run (seed, progress, NaN checks, checkpoint, figures).
        method: ``hypershot``, ``protonet``, ``maml`` or ``finetune``.
        shots: support examples per class.
        tests: test sets among ``glyphs`` and ``mnist``.
        figure: file name for a PNG of sample test episodes of the first test set.
        **options: overrides of :data:`DEFAULTS`.

    Returns:
        ``{"train": {...}, "params": int, test name: {"accuracy", "ci95", ...}}``; for
        HyperShot each test also holds ``"paired"``: its prototype rule alone on the same
        episodes and the paired difference (what the generated classifier adds).

    Raises:
        ValueError: an unknown option, method or test set, or episodes that do not fit
            the data (e.g. ``shots + queries`` more than the images per class).

    Example:
        >>> from hypernetworks.fewshot import experiment
        >>> from hypernetworks.runner import Run
        >>> tiny = dict(steps=1, queries=1, test_queries=1, test_episodes=2,
        ...             images_per_class=2, channels=4, hidden=8)
        >>> with Run("fewshot", tiny, seed=0, progress=False) as run:
        ...     result = experiment(run, method="protonet", shots=1, **tiny)
        >>> sorted(result), len(result["glyphs"]["episode_accuracies"])
        (['glyphs', 'params', 'train'], 2)
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown options {unknown}; known: {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **options}
    ways, per_class = config["ways"], config["images_per_class"]
    for name in tests:
        if name not in TEST_SETS:
            raise ValueError(f"test set must be one of {sorted(TEST_SETS)}, got {name!r}")
    x, y = load_glyphs("background", per_class=per_class, seed=run.seed)
    sampler = EpisodeSampler(x, y, ways, shots, config["queries"])
    learner = build(
        method,
        ways=ways,
        shots=shots,
        num_classes=sampler.num_classes,
        channels=config["channels"],
        kernel=config["kernel"],
        hidden=config["hidden"],
    )
    if run.resumed is not None:
        learner.load_state_dict(run.resumed["model"])
        trained = dict(run.resumed["train"])
        learner.eval()
    else:
        trained = train(
            learner,
            sampler,
            steps=config["steps"],
            lr=config["lr"],
            generator=run.generator(1),
            progress=lambda steps: run.progress(steps, desc=f"train {method}"),
            check=lambda loss, step: run.check_finite(loss, step=step),
        )
        run.save_checkpoint({"model": learner.state_dict(), "train": trained})
    result: dict[str, Any] = {
        "train": trained,
        "params": sum(p.numel() for p in learner.parameters()),
    }
    for index, name in enumerate(tests):
        test_x, test_y = test_data(name, seed=run.seed, images_per_class=per_class)
        test_sampler = EpisodeSampler(test_x, test_y, ways, shots, config["test_queries"])
        scores = evaluate(
            learner,
            test_sampler,
            episodes=config["test_episodes"],
            generator=run.generator(100 + index),
            progress=lambda episodes, n=name: run.progress(episodes, desc=f"test {n}"),
        )
        if isinstance(learner, HyperShot):  # ablation: its prototype rule alone, same episodes
            scores["paired"] = _paired_ablation(
                learner, test_sampler, scores, config["test_episodes"], run.generator(100 + index)
            )
        result[name] = scores
        if figure is not None and index == 0:
            episodes = [test_sampler.sample(run.generator(200 + i)) for i in range(3)]
            title = f"{method}, {ways}-way {shots}-shot, {TEST_SETS[name]}"
            run.save_figure(plot_episodes(learner, episodes, title=title), figure)
    return result


def _paired_ablation(
    learner: HyperShot,
    sampler: EpisodeSampler,
    scores: Mapping[str, Any],
    episodes: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """HyperShot without its generated classifier (ProtoNet on its backbone), same episodes.

    With ``detach=True`` that backbone trained exactly as ProtoNet's would, so
    ``difference`` is what the generated classifier adds, with a paired 95 % interval.
    """
    alone = evaluate(ProtoNet(learner.backbone), sampler, episodes=episodes, generator=generator)
    pairs = zip(scores["episode_accuracies"], alone["episode_accuracies"], strict=True)
    gaps = [a - b for a, b in pairs]
    difference, half = mean_ci95(gaps)
    return {"prototype_accuracy": alone["accuracy"], "difference": difference, "ci95": half}


def _benchmark(test: str) -> Callable[..., dict[str, Any]]:
    def benchmark(run: runner.Run, *, method: str, shots: int, **options: Any) -> dict[str, Any]:
        result = experiment(
            run, method=method, shots=shots, tests=(test,), figure="episodes.png", **options
        )
        scores: Mapping[str, Any] = result[test]
        return {
            "accuracy": scores["accuracy"],
            "ci95": scores["ci95"],
            "shots": shots,
            "ways": options.get("ways", DEFAULTS["ways"]),
            "method": method,
            "test_episodes": len(scores["episode_accuracies"]),
            "params": result["params"],
            "final_train_loss": result["train"]["final_loss"],
            "train_seconds": result["train"]["train_seconds"],
            "test_seconds": scores["test_seconds"],
        }

    benchmark.__doc__ = f"Train on background glyphs, test on {TEST_SETS[test]}; metrics.json keys."
    return benchmark


#: name -> function(run, *, method, shots, **options) -> metrics for metrics.json
BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "glyphs": _benchmark("glyphs"),
    "glyphs-to-mnist": _benchmark("mnist"),
}
