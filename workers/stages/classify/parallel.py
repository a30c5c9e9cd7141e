"""Encoding a large batch on every core: single-threaded encoder processes, one per core.

MiniLM encodes each article on its own (see encoder.py: int8 activations are scaled per input,
so batching would make embeddings depend on their neighbours); a 48-token sequence is too small
for two threads to share well. Measured on the 2-core machine, 1,500 AG News rows: one process
with 2 torch threads 246 texts/s, one thread 160 texts/s, so two one-thread processes encode
~1.3x faster than one two-thread process. Worth it only for batches that dwarf the ~2 s each
process spends loading the model, hence PARALLEL_MIN_TEXTS.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from workers.stages.classify.encoder import FloatArray, MiniLMEncoder, shared_encoder

# Below ~2,000 texts (about 10 s of encoding) the processes' start-up eats the gain.
PARALLEL_MIN_TEXTS = 2000


def single_thread_compute() -> None:
    """Limit this process's torch to one thread (prefork workers, encoder processes): with one
    process per core, more threads only contend for the same cores."""
    try:
        import torch
    except ImportError:  # the numpy path: BLAS threads follow OMP_NUM_THREADS
        return
    torch.set_num_threads(1)


def _start_encoder_process(max_tokens: int) -> None:
    single_thread_compute()
    shared_encoder(max_tokens)


def _encode_chunk(max_tokens: int, texts: Sequence[str]) -> FloatArray:
    return shared_encoder(max_tokens).encode(texts)


def encode_texts(encoder: MiniLMEncoder, texts: Sequence[str], processes: int = 0) -> FloatArray:
    """`encoder.encode(texts)`, spread over `processes` (default: one per core) when large."""
    processes = processes or (os.cpu_count() or 1)
    if processes < 2 or len(texts) < PARALLEL_MIN_TEXTS:
        return encoder.encode(texts)
    # Contiguous chunks, several per process so a slow chunk does not hold the others back.
    bounds = np.linspace(0, len(texts), processes * 4 + 1, dtype=int)
    chunks = [list(texts[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    with ProcessPoolExecutor(
        max_workers=processes,
        # spawn: a fork would copy a parent whose torch thread pool is already running.
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_encoder_process,
        initargs=(encoder.max_tokens,),
    ) as pool:
        parts = list(pool.map(_encode_chunk, [encoder.max_tokens] * len(chunks), chunks))
    return np.concatenate(parts).astype(np.float32, copy=False)
