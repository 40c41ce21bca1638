"""`transpector train-sae`: train a sparse autoencoder from the command line, with a progress
bar, save it (sae-lens's layout) and print its report."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_train_sae_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hook", required=True, help="hook name, e.g. blocks.6.hook_resid_post")
    parser.add_argument("--latents", type=int, required=True, help="number of latents (d_sae)")
    parser.add_argument("--k", type=int, default=32, help="active latents per token (topk)")
    parser.add_argument(
        "--architecture", choices=["topk", "standard"], default="topk",
        help="topk, or standard (ReLU with an L1 penalty, --l1)",
    )  # fmt: skip
    parser.add_argument("--l1", type=float, default=5.0, help="L1 coefficient (standard)")
    parser.add_argument("--dataset", help="a text or JSONL file (default: the embedded corpus)")
    parser.add_argument("--window", type=int, default=64, help="tokens per window")
    parser.add_argument("--max-windows", type=int, help="use at most this many windows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder to save the autoencoder in")
    parser.add_argument(
        "--model", help="local model directory or hub name (default: embedded SmolLM2)"
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")


def run_train_sae(args: argparse.Namespace) -> int:
    if not args.model or Path(args.model).expanduser().exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transpector.kernel.loading import load_model
    from transpector.kernel.session import Session

    session = Session(load_model(args.model, device=args.device))
    session.set_dataset(path=args.dataset, window=args.window, max_windows=args.max_windows)
    sae = session.train_sae(
        args.hook, args.latents, args.k, architecture=args.architecture, l1=args.l1,
        epochs=args.epochs, lr=args.lr, seed=args.seed, path=args.out,
    )  # fmt: skip
    assert sae.report is not None
    print(json.dumps(sae.report.model_dump(), indent=2))
    print(f"saved to {args.out}")
    return 0
