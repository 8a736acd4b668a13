"""The named few-shot benchmarks: held-out glyph scripts, and glyphs → MNIST-5k.

Every method trains on the glyph set's ``background`` scripts (Latin, Greek, Cyrillic,
Lisu, Arabic, Canadian syllabics) and is tested on 600 5-way episodes of either the
``evaluation`` scripts (Armenian, Georgian, Hebrew, Tifinagh: ``glyphs``) or the 10 MNIST
digits (``glyphs-to-mnist``). The ``validation`` scripts (Ogham, Lao, N'Ko) chose the
defaults. The test episodes depend only on the seed, so every method sees the same ones.
"""

from __future__ import annotations

import time
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
    "views": 16,
    "adapt_steps": 50,
    "adapt_lr": 1e-3,
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
    views: int = 0,
    adapt_steps: int = 0,
    adapt_lr: float = 1e-3,
) -> FewShotLearner:
    """A fresh method with a fresh :class:`ConvNet` backbone (same for every method).

    ``views``, ``adapt_steps`` and ``adapt_lr`` are HyperShot's test-time adaptation
    (see :class:`HyperShot`); the other methods ignore them.

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
        return HyperShot(
            ways,
            shots,
            backbone,
            kernel=kernel,
            hidden=(hidden, hidden),
            views=views,
            adapt_steps=adapt_steps,
            adapt_lr=adapt_lr,
        )
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
        views=config["views"],
        adapt_steps=config["adapt_steps"],
        adapt_lr=config["adapt_lr"],
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
        if isinstance(learner, HyperShot):  # with its controls on the same episodes
            scores = _evaluate_paired(
                learner,
                test_sampler,
                config["test_episodes"],
                run.generator(100 + index),
                progress=lambda episodes, n=name: run.progress(episodes, desc=f"test {n}"),
            )
        else:
            scores = evaluate(
                learner,
                test_sampler,
                episodes=config["test_episodes"],
                generator=run.generator(100 + index),
                progress=lambda episodes, n=name: run.progress(episodes, desc=f"test {n}"),
            )
        result[name] = scores
        if figure is not None and index == 0:
            episodes = [test_sampler.sample(run.generator(200 + i)) for i in range(3)]
            title = f"{method}, {ways}-way {shots}-shot, {TEST_SETS[name]}"
            run.save_figure(plot_episodes(learner, episodes, title=title), figure)
    return result


def _evaluate_paired(
    learner: HyperShot,
    sampler: EpisodeSampler,
    episodes: int,
    generator: torch.Generator,
    progress: Callable[..., Any],
) -> dict[str, Any]:
    """HyperShot on test episodes, with its controls paired on the same episodes and features.

    ``paired`` holds the plain prototype rule on HyperShot's backbone (with
    ``detach=True`` that backbone trained exactly as ProtoNet's would, so
    ``difference`` is HyperShot minus ProtoNet, with a paired 95 % interval) and, with
    test-time views, ``views_*``: the prototype rule with the same augmented support
    images in its class means (HyperShot's own means), so ``views_difference`` is what
    the adapted generated classifier adds beyond the augmentation.
    """
    learner.eval()
    start = time.perf_counter()
    hits: dict[str, list[float]] = {"hypershot": [], "prototypes": [], "prototypes_with_views": []}
    for _ in progress(range(episodes)):
        episode = sampler.sample(generator)
        for key, logits in learner.predict_with_controls(episode).items():
            hits[key].append(float((logits.argmax(-1) == episode.query_y).float().mean()))
    seconds = time.perf_counter() - start
    mean, half = mean_ci95(hits["hypershot"])
    paired: dict[str, float] = {}
    controls = [("", "prototypes")]
    if learner.views:
        controls.append(("views_", "prototypes_with_views"))
    for prefix, key in controls:
        pairs = zip(hits["hypershot"], hits[key], strict=True)
        difference, gap_half = mean_ci95([a - b for a, b in pairs])
        paired[f"{prefix}prototype_accuracy"] = mean_ci95(hits[key])[0]
        paired[f"{prefix}difference"] = difference
        paired[f"{prefix}ci95"] = gap_half
    return {
        "accuracy": mean,
        "ci95": half,
        "episode_accuracies": hits["hypershot"],
        "test_seconds": seconds,
        "paired": paired,
    }


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
