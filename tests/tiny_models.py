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


def tiny_llama_dir(folder: Path, n_layers: int = 2, n_heads: int = 4, n_kv_heads: int = 2) -> Path:
    """A random Llama (RMSNorm, rotary, grouped-query attention) in save_pretrained form; 2
    layers of 4 heads unless asked for more (d_model stays 64, so n_heads must divide it)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=128,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
