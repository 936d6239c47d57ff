"""PyTorch's time for the training step iclab's bench times (bench/train_step.ts), same models.

Forward + backward + gradient clipping (norm 10) + Adam on the quick-preset models: a GPT-2
Transformer (read-in, learned positions, 2 blocks of LayerNorm, causal attention with a fused qkv
projection, MLP 4x with tanh GELU, final LayerNorm, read-out) and a Mamba (read-in, 2 pre-norm
blocks of mamba-ssm v1.1.1's mixer with the selective scan written as mamba-ssm's
selective_scan_ref loop over time, final LayerNorm, read-out). The loss is the mean squared error
at every token (iclab's sparse-parity loss reads every other token; the cost is the same).

    python3 bench/pytorch_step.py --model transformer --batch 32 --tokens 80 --dims 4 --reps 10

Prints one JSON line: model, parameter count, torch version, threads, median ms and all times.
It measures; it asserts nothing. bench/vs_pytorch.ts runs it interleaved with iclab's step, with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736: stock malloc
mmaps every allocation over 32 MB and this VM's page faults make PyTorch 10x slower
(../shared/spec/perf-baselines.md); the tuned allocator is PyTorch at its best here.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        # PyTorch 1.13 has no scaled_dot_product_attention: the composition GPT-2 uses.
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        o = s.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return self.c_proj(o.transpose(1, 2).reshape(b, t, d))


class GPT2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, h):
        h = h + self.attn(self.ln_1(h))
        return h + self.c_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))


class MambaMixer(nn.Module):
    def __init__(self, d, d_state=16, d_conv=4, expand=2):
        super().__init__()
        di, self.dt_rank, self.n = expand * d, math.ceil(d / 16), d_state
        self.di = di
        self.in_proj = nn.Linear(d, 2 * di, bias=False)
        self.conv1d = nn.Conv1d(di, di, d_conv, groups=di, padding=d_conv - 1)
        self.x_proj = nn.Linear(di, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, di)
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(di, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(di))
        self.out_proj = nn.Linear(di, d, bias=False)

    def forward(self, u):
        b, length, _ = u.shape
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length]).transpose(1, 2)
        dt, bm, cm = self.x_proj(x).split([self.dt_rank, self.n, self.n], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # [b, L, di]
        a = -torch.exp(self.A_log)  # [di, n]
        da = torch.exp(delta.unsqueeze(-1) * a)  # [b, L, di, n]
        dbx = delta.unsqueeze(-1) * bm.unsqueeze(2) * x.unsqueeze(-1)
        state = u.new_zeros(b, self.di, self.n)
        ys = []
        # selective_scan_ref's loop; unbind, not da[:, t]: one backward for all steps instead of
        # a full-size zero tensor per step (7 s instead of 0.1 s here).
        for da_t, dbx_t, c_t in zip(da.unbind(1), dbx.unbind(1), cm.unbind(1)):
            state = da_t * state + dbx_t
            ys.append((state * c_t.unsqueeze(1)).sum(-1))
        y = torch.stack(ys, dim=1) + x * self.D
        return self.out_proj(y * F.silu(z))


class MambaBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(d), MambaMixer(d)

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class Model(nn.Module):
    def __init__(self, arch, dims, d, layers, heads, tokens):
        super().__init__()
        self.read_in = nn.Linear(dims, d)
        self.wpe = nn.Parameter(torch.randn(tokens, d) * 0.01) if arch == "transformer" else None
        block = (lambda: GPT2Block(d, heads)) if arch == "transformer" else (lambda: MambaBlock(d))
        self.blocks = nn.ModuleList(block() for _ in range(layers))
        self.norm_f = nn.LayerNorm(d)
        self.read_out = nn.Linear(d, 1)

    def forward(self, x):
        h = self.read_in(x)
        if self.wpe is not None:
            h = h + self.wpe[: x.shape[1]]
        for b in self.blocks:
            h = b(h)
        return self.read_out(self.norm_f(h))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["transformer", "mamba"], required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, default=80)
    p.add_argument("--dims", type=int, default=4)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--layers", type=int, default=2, help="blocks (GPT-2 or Mamba)")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a.model, a.dims, a.width, a.layers, a.heads, a.tokens)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, a.tokens, a.dims).sign()
    y = torch.randn(a.batch, a.tokens, 1).sign()
    times = []
    for i in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        loss = F.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        float(loss)
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "model": a.model,
        "params": sum(q.numel() for q in model.parameters()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "ms": sorted(times)[len(times) // 2],
        "times_ms": [round(t, 2) for t in times],
    }))


if __name__ == "__main__":
    main()
