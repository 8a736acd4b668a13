"""The named benchmarks of ``hypernetworks fields``: completion, super-resolution, compression.

* ``mnist`` / ``patches`` — complete test images from 10 pixels, 100 pixels and half of
  the pixels: the hypernetwork (one pass, and fine-tuned), the CNP, a SIREN fitted from
  scratch to the context, and the training set's mean image;
* ``superres`` — train on 14×14 MNIST, render 28×28 (one pass, and fine-tuned with an
  area-consistency loss), score against the real 28×28 images beside bicubic upsampling
  and SIRENs fitted from scratch with the same loss;
* ``compress`` — D'OH against COIN at matched bits per pixel, with JPEG beside them.

Each function takes a :class:`hypernetworks.runner.Run` and the budget, and returns a
JSON-ready dict whose ``results`` rows are ``{"method", "context", "mse", "psnr", ...}``
(``{"method", "image", "bpp", "psnr"}`` for ``compress``).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets import load_mnist, natural_image_crops
from ..runner import Run, world
from ._cnp import CNP, SirenFit
from ._codes import psnr
from ._context import random_masks
from ._hypernet import FieldHyperNetwork
from ._plots import completion_grid, superres_grid

__all__ = ["BENCHMARKS", "CONTEXTS", "completion", "mnist", "patches", "superres"]

CONTEXTS: tuple[int | float, ...] = (10, 100, 0.5)

_Model = TypeVar("_Model", FieldHyperNetwork, CNP)


def _fit(model: _Model, images: Tensor) -> _Model:
    return model.fit(images)


def fit_both(
    hypernet: FieldHyperNetwork, cnp: CNP, images: Tensor, *, side_by_side: bool = True
) -> tuple[FieldHyperNetwork, CNP]:
    """Fit the hypernetwork and the CNP baseline on ``images``: two independent trainings.

    With ``side_by_side`` and outside ``torchrun`` the CNP trains in a second process (one
    thread, no progress bar) while this process trains the hypernetwork, so the two use
    two cores; each fit seeds itself, so the result is the same as one after the other
    (a test checks it). Under ``torchrun`` the ranks already share the cores: one after
    the other, each data-parallel.
    """
    if not side_by_side or world()[1] > 1:
        return hypernet.fit(images), cnp.fit(images)
    shown, cnp.progress = cnp.progress, False
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        future = pool.submit(_fit, cnp, images)
        hypernet.fit(images)
        fitted = future.result()
    fitted.progress = shown
    return hypernet, fitted


def _label(context: int | float) -> str:
    return f"{round(100 * context)}%" if isinstance(context, float) else str(context)


def _scores(prediction: Tensor, truth: Tensor, mask: Tensor | None) -> dict[str, float]:
    """MSE and mean per-image PSNR on all pixels, and on the non-context pixels."""
    error = (prediction - truth) ** 2
    out = {"mse": float(error.mean()), "psnr": float(psnr(prediction, truth).mean())}
    if mask is not None:
        hidden = (~mask).unsqueeze(1).expand_as(error).to(error.dtype)
        count = hidden.flatten(1).sum(1)
        if bool((count > 0).all()):
            per_image = (error * hidden).flatten(1).sum(1) / count
            out["mse_target"] = float((error * hidden).sum() / hidden.sum())
            out["psnr_target"] = float((-10 * per_image.clamp_min(1e-10).log10()).mean())
    return out


def completion(
    run: Run,
    train: Tensor,
    test: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    omega0: float,
    finetune_steps: int,
    scratch_steps: int,
    name: str,
    finetune_lr: float = 1e-4,
    encoder: str = "attention",
    side_by_side: bool = True,
) -> dict[str, Any]:
    """Fit the hypernetwork and the CNP on ``train``, complete ``test`` at every context size."""
    channels, height, width = test.shape[1:]
    common: dict[str, Any] = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "progress": run.show_progress,
    }
    hypernet, cnp = fit_both(
        FieldHyperNetwork(channels, omega0=omega0, encoder=encoder, seed=run.seed, **common),
        CNP(channels, encoder=encoder, seed=run.seed, **common),
        train,
        side_by_side=side_by_side,
    )
    scratch = SirenFit(channels, steps=scratch_steps, omega0=omega0, seed=run.seed)
    methods: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "hypernetwork": hypernet.complete,
        f"hypernetwork+finetune{finetune_steps}": lambda x, m: hypernet.finetune(
            x, m, steps=finetune_steps, lr=finetune_lr
        ),
        "cnp": cnp.complete,
        f"siren-scratch{scratch_steps}": scratch.complete,
        "mean-image": lambda x, m: train.mean(0, keepdim=True).expand_as(x),
    }
    rows, seconds, cpu, shown = [], {}, {}, {}
    for index, context in enumerate(run.progress(CONTEXTS, desc="contexts")):
        mask = random_masks(len(test), height, width, context, generator=run.generator(100 + index))
        label = _label(context)
        shown[label] = {"mask": mask[:4]}
        for method, complete in methods.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            prediction = complete(test, mask)
            seconds[f"{method}@{label}"] = time.perf_counter() - start
            cpu[f"{method}@{label}"] = time.process_time() - cpu_start
            rows.append({"method": method, "context": label, **_scores(prediction, test, mask)})
            shown[label][method] = prediction[:4]
    one_pass = sum(v for k, v in cpu.items() if k.startswith("hypernetwork@"))
    fitted = sum(v for k, v in cpu.items() if k.startswith("siren-scratch"))
    run.save_figure(completion_grid(test[:4], shown), f"{name}_completion.png")
    return {
        "results": rows,
        "fit_seconds": {"hypernetwork": hypernet.fit_seconds_, "cnp": cnp.fit_seconds_},
        "fit_cpu_seconds": {"hypernetwork": hypernet.fit_cpu_seconds_, "cnp": cnp.fit_cpu_seconds_},
        "completion_seconds": seconds,
        "completion_cpu_seconds": cpu,
        "time_ratio_scratch_over_one_pass": fitted / max(one_pass, 1e-9),
        "train_images": len(train),
        "test_images": len(test),
    }


def _split(images: Tensor, run: Run, train: int, test: int) -> tuple[Tensor, Tensor]:
    order = torch.randperm(len(images), generator=run.generator(0))
    return images[order[:train]], images[order[train : train + test]]


def mnist(
    run: Run,
    *,
    steps: int = 6000,
    batch_size: int = 32,
    lr: float = 1e-3,
    omega0: float = 10.0,
    train_images: int = 2000,
    test_images: int = 100,
    finetune_steps: int = 20,
    finetune_lr: float = 1e-4,
    scratch_steps: int = 100,
    encoder: str = "attention",
    side_by_side: bool = True,
    **_: Any,
) -> dict[str, Any]:
    """MNIST-5k (28×28): train on ``train_images``, complete ``test_images`` others."""
    images, _labels = load_mnist()
    train, test = _split(images, run, train_images, test_images)
    return completion(
        run,
        train,
        test,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        omega0=omega0,
        finetune_steps=finetune_steps,
        finetune_lr=finetune_lr,
        scratch_steps=scratch_steps,
        name="mnist",
        encoder=encoder,
        side_by_side=side_by_side,
    )


def patches(
    run: Run,
    *,
    steps: int = 2000,
    batch_size: int = 32,
    lr: float = 1e-3,
    omega0: float = 10.0,
    train_images: int = 2000,
    test_images: int = 100,
    finetune_steps: int = 20,
    finetune_lr: float = 1e-4,
    scratch_steps: int = 100,
    encoder: str = "deepsets",
    side_by_side: bool = True,
    **_: Any,
) -> dict[str, Any]:
    """32×32 colour crops: training crops and test crops come from different photographs."""
    train = natural_image_crops(train_images, split="train", seed=run.seed)
    test = natural_image_crops(test_images, split="test", seed=run.seed + 10_000)
    return completion(
        run,
        train,
        test,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        omega0=omega0,
        finetune_steps=finetune_steps,
        finetune_lr=finetune_lr,
        scratch_steps=scratch_steps,
        name="patches",
        encoder=encoder,
        side_by_side=side_by_side,
    )


def bicubic(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Pillow's bicubic resize of each ``[C, H, W]`` image in [0, 1] (uint8 round trip)."""
    from PIL import Image

    out = []
    for image in images:
        array = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
        resized = np.asarray(
            picture.resize((size[1], size[0]), Image.Resampling.BICUBIC), dtype=np.float32
        )
        out.append(torch.from_numpy(resized / 255.0).reshape(size[0], size[1], -1).permute(2, 0, 1))
    return torch.stack(out)


def superres(
    run: Run,
    *,
    steps: int = 6000,
    batch_size: int = 32,
    lr: float = 1e-3,
    omega0: float = 10.0,
    train_images: int = 2000,
    test_images: int = 100,
    finetune_steps: int = 20,
    finetune_lr: float = 1e-3,
    scratch_steps: int = 100,
    encoder: str = "deepsets",
    side_by_side: bool = True,
    **_: Any,
) -> dict[str, Any]:
    """Train on 14×14 (2×2 averages of MNIST), render 28×28, score against the real 28×28.

    Besides the one-pass renders: the generated SIREN fine-tuned ``finetune_steps`` Adam
    steps with the area-consistency loss (its 2×2 sub-pixel mean matches each 14×14
    pixel, ``area=2``), and SIRENs fitted from scratch with the same loss for
    ``finetune_steps`` and ``scratch_steps`` steps. Each row also scores the 28×28 render
    mean-pooled back to 14×14 against the input (``psnr_input``); CPU seconds per method.
    """
    images, _labels = load_mnist()
    train, test = _split(images, run, train_images, test_images)
    small_train, small_test = F.avg_pool2d(train, 2), F.avg_pool2d(test, 2)
    common: dict[str, Any] = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "progress": run.show_progress,
    }
    hypernet, cnp = fit_both(
        FieldHyperNetwork(1, omega0=omega0, encoder=encoder, seed=run.seed, **common),
        CNP(1, encoder=encoder, seed=run.seed, **common),
        small_train,
        side_by_side=side_by_side,
    )
    full = torch.ones(14, 14, dtype=torch.bool)
    size = (28, 28)

    def scratch(k: int) -> Callable[[], Tensor]:
        fit = SirenFit(1, steps=k, lr=finetune_lr, omega0=omega0, seed=run.seed, area=2)
        return lambda: fit.render(small_test, full, size=size)

    methods: dict[str, Callable[[], Tensor]] = {
        "hypernetwork": lambda: hypernet.render(small_test, full, size=size),
        f"hypernetwork+finetune{finetune_steps}": lambda: hypernet.finetune(
            small_test, full, steps=finetune_steps, lr=finetune_lr, size=size, area=2
        ),
        f"siren-scratch{finetune_steps}": scratch(finetune_steps),
        f"siren-scratch{scratch_steps}": scratch(scratch_steps),
        "cnp": lambda: cnp.render(small_test, full, size=size),
        "bicubic": lambda: bicubic(small_test, size).clamp(0, 1),
        "nearest": lambda: F.interpolate(small_test, scale_factor=2, mode="nearest"),
    }
    renders, rows = {}, []
    for method, make in run.progress(methods.items(), desc="methods"):
        start = time.process_time()
        renders[method] = make()
        seconds = time.process_time() - start
        pooled = float(psnr(F.avg_pool2d(renders[method], 2), small_test).mean())
        rows.append(
            {
                "method": method,
                "context": "14x14 -> 28x28",
                **_scores(renders[method], test, None),
                "psnr_input": pooled,
                "cpu_seconds": seconds,
            }
        )
    shown = {m: r for m, r in renders.items() if m not in (f"siren-scratch{scratch_steps}",)}
    run.save_figure(superres_grid(small_test[:8], shown, test[:8]), "superres.png")
    return {
        "results": rows,
        "fit_seconds": {"hypernetwork": hypernet.fit_seconds_, "cnp": cnp.fit_seconds_},
        "fit_cpu_seconds": {"hypernetwork": hypernet.fit_cpu_seconds_, "cnp": cnp.fit_cpu_seconds_},
        "train_images": len(train),
        "test_images": len(test),
    }


def _compress(run: Run, **options: Any) -> dict[str, Any]:
    from ._compress_benchmark import compress

    return compress(run, **options)


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "mnist": mnist,
    "patches": patches,
    "superres": superres,
    "compress": _compress,
}
