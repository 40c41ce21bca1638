"""Small real models for fast tests: a byte-level tokenizer, a boot_native bridge, and a tiny
Llama saved as a Hugging Face directory (what load_model reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def byte_tokenizer(folder: Path) -> Any:
    """A byte-level BPE tokenizer with no merges, saved and reloaded (as boot_native needs)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0} | {ch: i + 1 for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )
    fast.save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def tiny_llama_dir(folder: Path) -> Path:
    """A 2-layer random Llama (RMSNorm, rotary, grouped-query attention) in save_pretrained form."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
