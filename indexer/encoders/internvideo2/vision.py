"""The InternVideo2 vision tower: a ViT over space-time patches with attention pooling.

Pre-norm blocks with RMSNorm, QK-normalisation (RMSNorm over the full width before splitting heads)
and LayerScale; a class token and a learned (sin-cos initialised) joint space-time position
embedding; the "clip projector" pools all tokens by cross-attention from their mean. Parameter names
follow the official ``PretrainInternVideo2`` so its checkpoints load by name. Attention is
``torch.nn.functional.scaled_dot_product_attention`` (flash/memory-efficient kernels on CUDA when
available, plain math on CPU); no flash-attn or apex needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from indexer.encoders.internvideo2.config import VisionConfig


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in fp32 (fp16 squares overflow), output in the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


class LayerScale(nn.Module):
    """Per-channel residual scale ``gamma``, applied in fp32 like the official ``force_fp32``."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * self.gamma.float()).to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention with optional QK-norm. ``(B, N, C) -> (B, N, C)``."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool, qk_normalization: bool, eps: float) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.q_norm: nn.Module = RMSNorm(dim, eps) if qk_normalization else nn.Identity()
        self.k_norm: nn.Module = RMSNorm(dim, eps) if qk_normalization else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        # QK-norm normalises over all heads at once (the official q_norm acts on the flattened width).
        q, k = self.q_norm(q), self.k_norm(k)
        heads = (batch, tokens, self.num_heads, dim // self.num_heads)
        q, k, v = (t.reshape(heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2``."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.norm1 = RMSNorm(dim, config.norm_eps)
        self.attn = Attention(dim, config.num_heads, qkv_bias=config.qkv_bias,
                              qk_normalization=config.qk_normalization, eps=config.norm_eps)
        self.ls1 = LayerScale(dim, config.layerscale_init)
        self.norm2 = RMSNorm(dim, config.norm_eps)
        self.mlp = Mlp(dim, config.mlp_hidden_dim)
        self.ls2 = LayerScale(dim, config.layerscale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Space-time patches: ``(B, 3, T, H, W) -> (B, T/tubelet * (H/p) * (W/p), C)``, time-major."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        kernel = (config.tubelet_size, config.patch_size, config.patch_size)
        self.proj = nn.Conv3d(3, config.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class CrossAttention(nn.Module):
    """Single-query cross-attention with separate q/k/v weights and biases (official naming)."""

    def __init__(self, dim: int, num_heads: int, out_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, out_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """query ``(B, Nq, C)``, key/value ``(B, Nk, C)`` -> ``(B, Nq, out_dim)``."""
        batch, dim = query.shape[0], query.shape[-1]
        head_dim = dim // self.num_heads

        def split(t: torch.Tensor, linear: nn.Linear, bias: torch.Tensor) -> torch.Tensor:
            return F.linear(t, linear.weight, bias).reshape(batch, -1, self.num_heads, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(query, self.q, self.q_bias), split(key, self.k, self.k_bias),
                                             split(value, self.v, self.v_bias))
        return self.proj(out.transpose(1, 2).reshape(batch, -1, dim))


class AttentionPoolingBlock(nn.Module):
    """The official ``clip_projector``: the token mean attends to all tokens. ``(B, N, C) -> (B, out_dim)``."""

    def __init__(self, dim: int, num_heads: int, out_dim: int) -> None:
        super().__init__()
        self.norm1_q = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_k = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_v = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attn = CrossAttention(dim, num_heads, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = self.norm1_q(x.mean(1, keepdim=True))
        return self.cross_attn(query, self.norm1_k(x), self.norm1_v(x)).squeeze(1)


def sincos_pos_embed_3d(dim: int, grid: int, frames: int) -> torch.Tensor:
    """Fixed sin-cos embedding ``(1, 1 + frames * grid * grid, dim)`` (class slot zero), MAE-ST layout.

    Three quarters of the channels encode (row, column), one quarter the frame index.
    """
    if dim % 16:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 16, got {dim}")

    def one_dim(width: int, positions: torch.Tensor) -> torch.Tensor:
        omega = 1.0 / 10000 ** (torch.arange(width // 2, dtype=torch.float64) / (width / 2))
        angles = positions.double()[:, None] * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    spatial_width, temporal_width = dim // 4 * 3, dim // 4
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    spatial = torch.cat([one_dim(spatial_width // 2, cols.flatten()), one_dim(spatial_width // 2, rows.flatten())], 1)
    temporal = one_dim(temporal_width, torch.arange(frames))
    table = torch.cat([temporal[:, None, :].expand(-1, grid * grid, -1),
                       spatial[None].expand(frames, -1, -1)], dim=-1).reshape(frames * grid * grid, dim)
    table = torch.cat([torch.zeros(1, dim, dtype=table.dtype), table])
    return table.float().unsqueeze(0)


class InternVideo2VisionTransformer(nn.Module):
    """The official ``PretrainInternVideo2`` minus its training-only CLIP-distillation decoders.

    ``forward(video)``: video ``(B, 3, T, H, W)`` normalised pixels, ``T`` = ``num_frames`` (or 1 for
    an image) -> ``(tokens (B, 1 + T*h*w, embed_dim), pooled (B, clip_embed_dim))``.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        dim, grid, frames = config.embed_dim, config.grid_size, config.temporal_size
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(sincos_pos_embed_3d(dim, grid, frames))
        if config.sep_image_video_pos_embed:
            self.img_pos_embed = nn.Parameter(sincos_pos_embed_3d(dim, grid, 1))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.clip_projector = AttentionPoolingBlock(dim, config.attn_pool_num_heads, config.clip_embed_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        """Official initialisation: truncated-normal linears, depth-rescaled output projections."""
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for layer_id, block in enumerate(self.blocks, start=1):
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * layer_id))
            block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * layer_id))

    def _position_embedding(self, temporal: int) -> torch.Tensor:
        if temporal == self.config.temporal_size:
            return self.pos_embed
        if temporal == 1:
            if self.config.sep_image_video_pos_embed:
                return self.img_pos_embed
            spatial = self.pos_embed[:, 1:].reshape(1, self.config.temporal_size, -1, self.config.embed_dim)
            return torch.cat([self.pos_embed[:, :1], spatial.mean(1)], dim=1)
        raise ValueError(f"this checkpoint encodes {self.config.num_frames} frames (or 1), got {temporal}")

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.patch_embed(video.to(self.patch_embed.proj.weight.dtype))
        temporal = video.shape[2] // self.config.tubelet_size
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self._position_embedding(temporal)
        for block in self.blocks:
            x = block(x)
        return x, self.clip_projector(x)
