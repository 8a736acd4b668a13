"""Few-shot recipe: episodes, HyperShot's invariants, the baselines, and bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from hypernetworks.datasets import glyph_classes, load_glyphs
from hypernetworks.fewshot import (
    MAML,
    ConvNet,
    EpisodeSampler,
    Finetune,
    HyperShot,
    ProtoNet,
    SupportKernel,
    evaluate,
    kernel_matrix,
    mean_ci95,
    stack_episodes,
    train,
)


def _tagged(classes: int = 8, per_class: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """x[i] = [label, index]: every example says which class and row it came from."""
    y = torch.arange(classes).repeat_interleave(per_class) * 3 + 1  # sparse, non-contiguous
    x = torch.stack([y.float(), torch.arange(len(y)).float()], dim=1)
    return x, y


def test_episodes_hold_the_right_classes_without_overlap() -> None:
    x, y = _tagged()
    sampler = EpisodeSampler(x, y, ways=4, shots=2, queries=3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        episode = sampler.sample(generator)
        assert episode.support_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
        assert episode.query_y.tolist() == [c for c in range(4) for _ in range(3)]
        # each example's true label is the class its episode label stands for
        assert torch.equal(episode.support_x[:, 0].long(), episode.classes[episode.support_y])
        assert torch.equal(episode.query_x[:, 0].long(), episode.classes[episode.query_y])
        assert len(set(episode.classes.tolist())) == 4
        rows = set(episode.support_x[:, 1].tolist()) | set(episode.query_x[:, 1].tolist())
        assert len(rows) == 8 + 12  # support and query never share an example


def test_episodes_are_reproducible_under_a_generator() -> None:
    x, y = _tagged()
    sampler = EpisodeSampler(x, y, ways=3, shots=1, queries=2)
    first = sampler.sample(torch.Generator().manual_seed(5))
    again = sampler.sample(torch.Generator().manual_seed(5))
    assert torch.equal(first.query_x, again.query_x) and torch.equal(first.classes, again.classes)


def test_glyph_episodes_draw_only_from_their_split() -> None:
    split_of = {c.label: c.split for c in glyph_classes()}
    generator = torch.Generator().manual_seed(0)
    for split in ("validation", "evaluation"):
        x, y = load_glyphs(split, per_class=3, seed=0)
        sampler = EpisodeSampler(x, y, ways=5, shots=1, queries=2)
        for _ in range(10):
            episode = sampler.sample(generator)
            assert {split_of[int(c)] for c in episode.classes} == {split}
    validation = set(load_glyphs("validation", per_class=1)[1].tolist())
    evaluation = set(load_glyphs("evaluation", per_class=1)[1].tolist())
    assert not validation & evaluation


def test_bad_episode_requests_get_clear_errors() -> None:
    x, y = _tagged(classes=5, per_class=4)
    with pytest.raises(
        ValueError, match=r"ways \(=7\) must not exceed the classes available \(=5\)"
    ):
        EpisodeSampler(x, y, ways=7, shots=1, queries=1)
    with pytest.raises(
        ValueError, match=r"classes available \(=0\) with at least shots \+ queries = 5"
    ):
        EpisodeSampler(x, y, ways=2, shots=2, queries=3)
    with pytest.raises(ValueError, match="shots must be at least 1, got 0"):
        EpisodeSampler(x, y, ways=2, shots=0, queries=1)
    with pytest.raises(ValueError, match="ways must be at least 2, got 1"):
        EpisodeSampler(x, y, ways=1, shots=1, queries=1)
    with pytest.raises(TypeError, match=r"shots must be an int, got 1.0 \(float\)"):
        EpisodeSampler(x, y, ways=2, shots=1.0, queries=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="y must be a 1-D integer tensor"):
        EpisodeSampler(x, y.float(), ways=2, shots=1, queries=1)
    with pytest.raises(ValueError, match="same length, got 20 and 19"):
        EpisodeSampler(x, y[:-1], ways=2, shots=1, queries=1)
    with pytest.raises(ValueError, match="kernel must be one of"):
        HyperShot(5, 1, kernel="rbf")
    with pytest.raises(ValueError, match="shots must be a positive int, got 0"):
        SupportKernel(5, 0)
    with pytest.raises(ValueError, match="channels must be a positive int, got 0"):
        ConvNet(channels=0)
    with pytest.raises(TypeError, match=r"blocks must be a positive int, got 2.0 \(float\)"):
        ConvNet(blocks=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inner_lr must be a positive number, got 0"):
        MAML(3, ConvNet(channels=4), inner_lr=0)
    with pytest.raises(TypeError, match=r"inner_lr must be a positive number, got '0.1' \(str\)"):
        MAML(3, ConvNet(channels=4), inner_lr="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci95([])


def test_a_model_refuses_episodes_of_another_shape() -> None:
    x, y = torch.rand(40, 1, 28, 28), torch.arange(4).repeat_interleave(10)
    episode = EpisodeSampler(x, y, ways=3, shots=2, queries=1).sample()
    with pytest.raises(ValueError, match="built for 3-way 1-shot episodes, got a 3-way 2-shot"):
        HyperShot(3, 1, ConvNet(channels=4)).predict(episode)
    with pytest.raises(ValueError, match="built for 5-way episodes, got 3-way"):
        MAML(5, ConvNet(channels=4)).predict(episode)


def test_support_kernel_is_the_normalised_kernel_matrix() -> None:
    z = torch.randn(6, 4)
    k = SupportKernel(3, 2, "cosine")(z)
    expected = F.normalize(z, dim=1) @ F.normalize(z, dim=1).T
    assert torch.allclose(k * expected.abs().mean(), expected.flatten(), atol=1e-6)
    batch = SupportKernel(3, 2, "euclidean")(torch.stack([z, 2 * z]))
    assert torch.allclose(batch[0], batch[1], atol=1e-5)  # scale-free
    assert torch.allclose(kernel_matrix(z, z, "euclidean"), -torch.cdist(z, z).pow(2), atol=1e-4)


def _episodes(ways: int, shots: int, count: int) -> list:
    x, y = torch.rand(90, 1, 28, 28), torch.arange(9).repeat_interleave(10)
    sampler = EpisodeSampler(x, y, ways=ways, shots=shots, queries=3)
    generator = torch.Generator().manual_seed(1)
    return [sampler.sample(generator) for _ in range(count)]


@pytest.mark.parametrize("kernel", ["cosine", "euclidean"])
def test_hypershot_episode_batch_equals_one_episode_at_a_time(kernel: str) -> None:
    model = HyperShot(3, 2, ConvNet(channels=4), kernel=kernel, hidden=(16,))
    with torch.no_grad():  # a trained-looking hypernetwork: Δθ is not zero
        for p in model.classifier.head.parameters():
            p.normal_(0, 0.1)
        model.log_temperature.fill_(0.5)
    episodes = _episodes(3, 2, 3)
    together = model.episode_logits(episodes)  # the core's per-sample path
    alone = torch.stack([model.episode_logits([e])[0] for e in episodes])  # shared path
    assert torch.allclose(together, alone, atol=1e-5)
    # the materialized classifier's logits plus the tempered prototype rule's
    episode = episodes[0]
    classifier = model.generate(episode)
    with torch.no_grad():
        support, query = model.backbone(episode.support_x), model.backbone(episode.query_x)
        prototypes = support.view(3, 2, -1).mean(1)
        rule = -torch.cdist(query, prototypes).pow(2) * math.exp(0.5)
        logits = rule + classifier(kernel_matrix(query, support, kernel))
    assert torch.allclose(logits, alone[0], atol=1e-4)


@pytest.mark.parametrize("kernel", ["cosine", "euclidean"])
def test_untrained_hypershot_is_exactly_protonet(kernel: str) -> None:
    model = HyperShot(3, 2, ConvNet(channels=4), kernel=kernel)
    episodes = _episodes(3, 2, 2)
    protonet = ProtoNet(model.backbone)
    assert torch.equal(model.episode_logits(episodes), protonet.episode_logits(episodes))


@pytest.mark.parametrize("detach", [True, False])
def test_detached_hypershot_trains_its_backbone_exactly_as_protonet(detach: bool) -> None:
    x, y = torch.rand(90, 1, 28, 28), torch.arange(9).repeat_interleave(10)
    sampler = EpisodeSampler(x, y, ways=3, shots=2, queries=3)
    torch.manual_seed(0)
    backbone = ConvNet(channels=4)
    hypershot = HyperShot(3, 2, copy.deepcopy(backbone), hidden=(8,), detach=detach)
    protonet = ProtoNet(copy.deepcopy(backbone))
    for model in (hypershot, protonet):
        train(model, sampler, steps=4, lr=1e-2, generator=torch.Generator().manual_seed(0))
    same = [
        torch.equal(a, b)
        for a, b in zip(
            hypershot.backbone.parameters(), protonet.backbone.parameters(), strict=True
        )
    ]
    assert all(same) == detach  # detach: only the prototype rule's loss reaches the backbone


def test_hypershot_refuses_a_non_bool_detach() -> None:
    with pytest.raises(TypeError, match="detach must be a bool, got int"):
        HyperShot(5, 1, ConvNet(channels=4), detach=1)  # type: ignore[arg-type]


def test_every_parameter_of_hypershot_learns() -> None:
    model = HyperShot(3, 1, ConvNet(channels=4), hidden=(8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # the zero-initialised Δθ layer makes the body's first gradient zero
        optimizer.zero_grad()
        model.loss(_episodes(3, 1, 2))[0].backward()
        optimizer.step()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def _blobs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny image problem: each class is a coarse random 4×4 pattern plus heavy noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = (torch.rand(16, 1, 4, 4, generator=generator) > 0.5).float()
    patterns = F.interpolate(coarse, size=(28, 28), mode="nearest")
    y = torch.arange(16).repeat_interleave(8)
    noise = torch.rand(len(y), 1, 28, 28, generator=generator)
    return 0.6 * patterns[y] + 0.4 * noise, y


@pytest.mark.parametrize("method", ["hypershot", "protonet", "maml", "finetune"])
def test_few_shot_beats_chance_on_a_tiny_problem(method: str) -> None:
    x, y = _blobs(0)
    train_sampler = EpisodeSampler(x[y < 10], y[y < 10], ways=5, shots=1, queries=3)
    test_sampler = EpisodeSampler(x[y >= 10], y[y >= 10], ways=5, shots=1, queries=3)
    backbone = ConvNet(channels=8)
    model = {
        "hypershot": lambda: HyperShot(5, 1, backbone, hidden=(32,)),
        "protonet": lambda: ProtoNet(backbone),
        "maml": lambda: MAML(5, backbone, inner_steps=2, test_steps=5, inner_lr=0.5),
        "finetune": lambda: Finetune(10, backbone, steps=30),
    }[method]()
    train(model, train_sampler, steps=15, lr=3e-3, generator=torch.Generator().manual_seed(0))
    result = evaluate(model, test_sampler, episodes=20, generator=torch.Generator().manual_seed(1))
    assert result["accuracy"] > 0.6  # chance is 0.2
    assert 0 < result["ci95"] < 0.2


def test_stack_episodes_refuses_mixed_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        stack_episodes(_episodes(3, 1, 1) + _episodes(3, 2, 1))
    with pytest.raises(ValueError, match="at least one episode"):
        stack_episodes([])


def test_mean_ci95_is_the_normal_interval() -> None:
    values = torch.tensor([0.2, 0.4, 0.6, 0.8])
    mean, half = mean_ci95(values)
    assert mean == pytest.approx(0.5)
    assert half == pytest.approx(1.96 * float(values.std()) / 2)
