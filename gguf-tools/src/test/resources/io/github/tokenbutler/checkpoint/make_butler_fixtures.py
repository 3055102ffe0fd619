#!/usr/bin/python3
"""Writes the import-butler test fixtures: small TokenButler predictor checkpoints in the authors' state-dict
layouts, from random weights, and the importance logits they give, computed here in float64.

Run with Debian's PyTorch (apt-get install python3-torch; /usr/bin/python3, 1.13 when this was written) from this
directory:  /usr/bin/python3 make_butler_fixtures.py
It rewrites every file it makes; the same torch version gives the same files.

The shape is a tiny one of ours (not a published model): E 64, 4 layers, 4 query heads / 2 KV heads of 16, vocab 300,
RoPE base 500000 (Llama 3's, so that the authors' Llama-3 RoPE scaling changes the low frequencies). The logits come
from a reference of our own written from the authors' equations (their predictor module imports Hugging Face
transformers and Triton kernels, which Debian's torch does not bring, so it was not run). Its conventions, as read
in their code (abdelfattah-lab/TokenButler):

v1 (TokenImportancePredictorAttentive, the "layer-norm added" version of the published Butler checkpoints):
  xr = input_proj x;  q, k, v = *_proj_attn xr, per head (num_attention_heads heads), RoPE on q, k
  a  = norm1(causal softmax(q k^T / sqrt(head)) v);   h = norm2(x + ffn.2 GELU(ffn.0 a))
  qi = q_proj_importance.2 SiLU(q_proj_importance.0 h), ki likewise, both [N, H, d'] per token, RoPE on each d'-vector
  RoPE: rotate-half, base = the model's rope_theta, Llama-3 frequency scaling with factor 32, low 1, high 4,
  original context 8192 (hard-coded in their _init_rope for every model).
  Their q_importance.view(B*H, N, L, d') after the permute to [B, N, H, L, d'] regroups the N*H vectors: the
  consumer at layer m, head h uses output block h*N + m (not m*H + h).
v2 (the "tokenbutler_project" variant of the released Llama-3.1-8B-Instruct predictor):
  producer p (layer p*G) reads that layer's attention input x:  q = q_mlps.0.2 SiLU(q_mlps.0.0 norm_importance(x)),
  [G, H, d'] per token; layer l >= 1 uses producer (l-1)//G, slot (l-1) % G, and the key projection
  key_cache_proj[l] (taken from that producer's state dict) of the model's post-RoPE keys, per query head (keys
  repeated over the KV group) or per KV head when the tensor has that shape; logit = q . W k / sqrt(d'). No RoPE.
"""
import collections
import json
import math
import struct

import torch

torch.manual_seed(20250307)

E, L, H, KV, HS, VOCAB, THETA = 64, 4, 4, 2, 16, 300, 500000.0
T = 12                      # tokens of the test sequence
R, DP, I = 4, 8, 32         # v1: reduction, d', importance hidden
P = E // R                  # 16, attention heads H of size 4
G = 2                       # v2: producer spacing
SCALING = dict(factor=32.0, low=1.0, high=4.0, context=8192)
PREFIX = "sparse_token_predictor."


def linear(out_dim, in_dim):
    return torch.randn(out_dim, in_dim) / math.sqrt(in_dim)


def norm_params(n):
    return 1 + 0.2 * torch.randn(n), 0.2 * torch.randn(n)


def base_attention():
    """The producer layer's own attention weights, which its state dict holds beside the predictor (ignored on import)."""
    return {"q_proj.weight": linear(H * HS, E), "k_proj.weight": linear(KV * HS, E),
            "v_proj.weight": linear(KV * HS, E), "o_proj.weight": linear(E, H * HS)}


# ---------------------------------------------------------------- v1 weights
v1 = collections.OrderedDict()
v1.update(base_attention())
v1[PREFIX + "input_proj.weight"] = linear(P, E)
v1[PREFIX + "q_proj_attn.weight"] = linear(P, P)
v1[PREFIX + "k_proj_attn.weight"] = linear(P, P)
v1[PREFIX + "v_proj_attn.weight"] = linear(P, P)
v1[PREFIX + "norm1.weight"], v1[PREFIX + "norm1.bias"] = norm_params(P)
v1[PREFIX + "norm2.weight"], v1[PREFIX + "norm2.bias"] = norm_params(E)
v1[PREFIX + "ffn.0.weight"], v1[PREFIX + "ffn.0.bias"] = linear(2 * P, P), 0.1 * torch.randn(2 * P)
v1[PREFIX + "ffn.2.weight"], v1[PREFIX + "ffn.2.bias"] = linear(E, 2 * P), 0.1 * torch.randn(E)
# Two of the MLP weights share one storage (at offsets 0 and I*E) and one is a transposed view, so that the reader
# is tested on storage offsets and strides as torch.save writes them.
shared = torch.randn(2 * I * E) / math.sqrt(E)
v1[PREFIX + "q_proj_importance.0.weight"] = shared[: I * E].view(I, E)
v1[PREFIX + "q_proj_importance.2.weight"] = linear(L * H * DP, I)
v1[PREFIX + "k_proj_importance.0.weight"] = shared[I * E:].view(I, E)
v1[PREFIX + "k_proj_importance.2.weight"] = linear(I, L * H * DP).t()
v1["sparse_head_predictor.input_proj.weight"] = linear(4, E)   # the head predictor: not imported
# Module.state_dict() sets this attribute (a version per module); pickled, it is a BUILD of the OrderedDict.
v1._metadata = collections.OrderedDict([("", {"version": 1}), ("sparse_token_predictor", {"version": 1})])


def inverse_frequencies(dim):
    f = THETA ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    wavelength = 2 * math.pi / f
    low_wl, high_wl = SCALING["context"] / SCALING["low"], SCALING["context"] / SCALING["high"]
    smooth = (SCALING["context"] / wavelength - SCALING["low"]) / (SCALING["high"] - SCALING["low"])
    scaled = torch.where(wavelength > low_wl, f / SCALING["factor"], f)
    medium = (wavelength >= high_wl) & (wavelength <= low_wl)
    return torch.where(medium, (1 - smooth) * f / SCALING["factor"] + smooth * f, scaled)


def rope(v, dim):
    """Rotate-half RoPE of [..., T, dim] at positions 0..T-1."""
    angles = torch.arange(v.shape[-2], dtype=torch.float64)[:, None] * inverse_frequencies(dim)[None, :]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    half = dim // 2
    rotated = torch.cat([-v[..., half:], v[..., :half]], -1)
    return v * cos + rotated * sin


def layer_norm(x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w.double(), b.double(), 1e-5)


def v1_logits(sd, x):
    w = {k[len(PREFIX):]: v.double() for k, v in sd.items() if k.startswith(PREFIX)}
    xr = x @ w["input_proj.weight"].T
    heads = lambda m: (xr @ m.T).view(T, H, P // H).transpose(0, 1)            # [H, T, head]
    q, k, v = heads(w["q_proj_attn.weight"]), heads(w["k_proj_attn.weight"]), heads(w["v_proj_attn.weight"])
    q, k = rope(q, P // H), rope(k, P // H)
    s = q @ k.transpose(-1, -2) / math.sqrt(P // H)
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, P)
    a = layer_norm(a, w["norm1.weight"], w["norm1.bias"])
    ffn = torch.nn.functional.gelu(a @ w["ffn.0.weight"].T + w["ffn.0.bias"]) @ w["ffn.2.weight"].T + w["ffn.2.bias"]
    h = layer_norm(x + ffn, w["norm2.weight"], w["norm2.bias"])
    mlp = lambda n: torch.nn.functional.silu(h @ w[n + ".0.weight"].T) @ w[n + ".2.weight"].T

    def regroup(flat):  # the authors' view/permute: [T, N*H*d'] -> [H, N, T, d'], head-major over the flat (n, h) blocks
        return flat.view(1, T, L, H, DP).permute(0, 2, 3, 1, 4).contiguous().view(H, L, T, DP)

    qi, ki = rope(regroup(mlp("q_proj_importance")), DP), rope(regroup(mlp("k_proj_importance")), DP)
    return torch.stack([qi[:, m] @ ki[:, m].transpose(-1, -2) / math.sqrt(DP) for m in range(L)])   # [L, H, T, T]


# ---------------------------------------------------------------- v2 weights
def v2_producers(key_heads, dtype):
    producers = []
    for p in range((L + G - 1) // G):
        sd = collections.OrderedDict()
        sd.update(base_attention())
        sd[PREFIX + "norm_importance.weight"], sd[PREFIX + "norm_importance.bias"] = norm_params(E)
        sd[PREFIX + "q_mlps.0.0.weight"] = linear(I, E)
        sd[PREFIX + "q_mlps.0.2.weight"] = linear(G * H * DP, I)
        sd[PREFIX + "key_cache_proj"] = torch.randn(L, key_heads, HS, DP) / math.sqrt(HS)
        producers.append(collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items()))
    return producers


def v2_logits(producers, xs, keys, mean_key_heads=False):
    """xs [L, T, E]: each layer's attention input; keys [L, T, KV, HS]: each layer's post-RoPE keys. [L, H, T, T], layer 0 zero."""
    out = torch.zeros(L, H, T, T, dtype=torch.float64)
    queries = {}
    for p, sd in enumerate(producers):
        w = {k[len(PREFIX):]: v.double() for k, v in sd.items() if k.startswith(PREFIX)}
        x = layer_norm(xs[p * G], w["norm_importance.weight"], w["norm_importance.bias"])
        q = torch.nn.functional.silu(x @ w["q_mlps.0.0.weight"].T) @ w["q_mlps.0.2.weight"].T
        queries[p] = q.view(T, G, H, DP).permute(2, 1, 0, 3)                        # [H, G, T, d']
    for l in range(1, L):
        p, slot = (l - 1) // G, (l - 1) % G
        proj = producers[p][PREFIX + "key_cache_proj"].double()[l]                  # [heads, HS, d']
        if proj.shape[0] == H and mean_key_heads:
            proj = proj.view(KV, H // KV, HS, DP).mean(1)
        if proj.shape[0] == KV:
            proj = proj.repeat_interleave(H // KV, 0)
        k = keys[l].double().repeat_interleave(H // KV, 1).transpose(0, 1)           # [H, T, HS]
        kp = torch.einsum("htk,hkd->htd", k, proj)
        out[l] = queries[p][:, slot] @ kp.transpose(-1, -2) / math.sqrt(DP)
    return out


# ---------------------------------------------------------------- files
def write_safetensors(path, tensors):
    """The safetensors format itself: an 8-byte little-endian header length, a JSON header, the raw data."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def causal_rows(logits):
    """[L, H, T, T] -> nested lists with row i holding keys 0..i."""
    return [[[logits[l, h, i, : i + 1].tolist() for i in range(T)] for h in range(H)] for l in range(L)]


x = torch.randn(T, E, dtype=torch.float64)
torch.save([v1], "v1_butler.pt")
# The Hugging Face layout: the producer layer's tensors under the model's names, beside base-model tensors.
hf = collections.OrderedDict(("model.layers.0.self_attn." + k, v) for k, v in v1.items())
hf["model.embed_tokens.weight"] = linear(VOCAB, E)
hf["model.layers.0.input_layernorm.weight"] = torch.ones(E)
write_safetensors("v1_butler.safetensors", hf)

xs = torch.randn(L, T, E, dtype=torch.float64)
keys = torch.randn(L, T, KV, HS, dtype=torch.float64)
v2_kv = v2_producers(KV, torch.bfloat16)
torch.save([v2_kv[0], v2_kv[1]], "v2_butler_kv_heads.pt")
v2_heads = v2_producers(H, torch.float32)
torch.save(v2_heads, "v2_butler_query_heads.pt")

# Checkpoints for the refusals.
torch.save(v1[PREFIX + "input_proj.weight"], "not_a_state_dict.pt")                         # a bare tensor
torch.save([collections.OrderedDict((k, v) for k, v in v1.items() if not k.endswith("norm1.bias"))], "v1_missing_tensor.pt")
extra = collections.OrderedDict(v1)
extra[PREFIX + "o_proj_attn.weight"] = linear(P, P)
torch.save([extra], "v1_extra_tensor.pt")


class Payload:                                                                           # a class outside the allowed set
    def __reduce__(self):
        return (print, ("this must never run",))


torch.save([collections.OrderedDict(v1), Payload()], "v1_with_other_class.pt")

v1_ref = v1_logits(v1, x)
expected = {
    "source": "make_butler_fixtures.py, torch " + torch.__version__ + ", float64 reference of the authors' equations",
    "shape": dict(dim=E, layers=L, heads=H, kv_heads=KV, head_size=HS, vocab=VOCAB, rope_theta=THETA, tokens=T,
                  reduction=R, d_prime=DP, importance_hidden=I, spacing=G),
    "v1": {"inputs": x.tolist(), "logits": causal_rows(v1_ref)},
    "v2": {"inputs": xs.tolist(), "keys": keys.tolist(),
           "logits_kv_heads": causal_rows(v2_logits(v2_kv, xs, keys)),
           "logits_query_heads": causal_rows(v2_logits(v2_heads, xs, keys)),
           "logits_query_heads_mean": causal_rows(v2_logits(v2_heads, xs, keys, mean_key_heads=True))},
}
with open("expected_logits.json", "w") as f:
    json.dump(expected, f, indent=None, separators=(",", ":"))
print("wrote fixtures; v1 logits max |.|", float(v1_ref.nan_to_num(0, 0, 0).abs().max()))
