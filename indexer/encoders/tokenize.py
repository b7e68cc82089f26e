"""Tokenising queries for the built-in encoders: one place that truncates and says so."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any


def tokenize(tokenizer: Any, texts: Sequence[str], *, max_length: int, name: str,
             pad_to_max: bool = False) -> tuple[Any, list[int]]:
    """Tokenise ``texts`` -> (padded ``BatchEncoding`` of torch tensors ``(B, L)``, real tokens per text).

    ``L <= max_length``; the real-token counts come from the unpadded encoding, so they are right even
    for tokenizers whose padding token equals their end token (SigLIP) or that return no attention mask.

    Texts longer than ``max_length`` tokens are truncated with a ``UserWarning`` naming the encoder
    (the encoder contract: long queries are truncated with a warning, never rejected).
    """
    texts = list(texts)
    # verbose=False: the over-length note is ours (below); transformers would log its own on top.
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
    longest = max(lengths, default=0)
    if longest > max_length:
        warnings.warn(f"query longer than {max_length} tokens ({longest}); truncated for {name}", stacklevel=3)
    batch = tokenizer(texts, padding="max_length" if pad_to_max else True, truncation=True,
                      max_length=max_length, return_tensors="pt")
    return batch, [min(n, max_length) for n in lengths]
