"""Hypernetwork adapters for pretrained transformers.

One hypernetwork generates the LoRA factors of chosen modules of any Hugging Face model,
conditioned on a task id (HyperFormer: "Parameter-efficient Multi-task Fine-tuning for
Transformers via Shared Hypernetworks", Mahabadi et al. 2021, with its layer embedding)
or on a task's description embedded by the frozen model itself (as HyperLoRA, "Task-
Agnostic Low-Rank Adapters for Unseen English Dialects", Xiao et al. 2023, and
Text-to-LoRA, Charakorn et al. 2025), so an unseen task gets adapters from its
description alone. A mixed-task batch runs in one forward pass, each sample with its
own task's adapters (the core's per-sample path). ``materialize(task)`` gives a plain
Hugging Face model with the adapters merged, which ``save_pretrained`` saves.

Example:
    >>> import torch, transformers
    >>> from hypernetworks.adapters import HyperLoRA
    >>> config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
    ...     num_attention_heads=2, intermediate_size=64, vocab_size=100)
    >>> bert = transformers.BertModel(config).eval()
    >>> hyper = HyperLoRA(bert, num_tasks=4, target_modules=["query", "value"], rank=2)
    >>> ids = torch.tensor([[1, 5, 7, 2], [1, 9, 3, 2], [1, 4, 2, 0]])
    >>> inputs = {"input_ids": ids, "attention_mask": (ids > 0).long()}
    >>> out = hyper(inputs, torch.tensor([0, 3, 1]))    # one task per sample
    >>> torch.allclose(out.last_hidden_state, bert(**inputs).last_hidden_state, atol=1e-5)
    True
    >>> type(hyper.materialize(3)).__name__              # a plain model, adapters merged
    'BertModel'
"""

from ._benchmarks import BENCHMARKS as BENCHMARKS
from ._benchmarks import METHODS as METHODS
from ._benchmarks import load_minilm as load_minilm
from ._descriptions import DescriptionEmbedding as DescriptionEmbedding
from ._descriptions import mean_pool as mean_pool
from ._descriptions import sentence_encoder as sentence_encoder
from ._harness import evaluate as evaluate
from ._harness import train_encoder as train_encoder
from ._harness import train_probe as train_probe
from ._hyperlora import HyperLoRA as HyperLoRA
from ._hyperlora import lora_model as lora_model
from ._plots import plot_accuracy as plot_accuracy

__all__ = [
    "BENCHMARKS",
    "METHODS",
    "DescriptionEmbedding",
    "HyperLoRA",
    "evaluate",
    "lora_model",
    "load_minilm",
    "mean_pool",
    "plot_accuracy",
    "sentence_encoder",
    "train_encoder",
    "train_probe",
]
