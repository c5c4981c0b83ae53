"""Real model architectures, small and with random weights, built from their configs (nothing downloaded).

Each entry builds ``(model, batches)``: the model in eval mode and two calibration batches in the form
its ``forward`` takes (a tensor, or a dict of keyword tensors). Families:

- ``cnn``: torchvision-style image classifiers (ResNet basic blocks, MobileNetV3 blocks with depthwise
  convolutions, squeeze-excitation and hardswish), written here after torchvision's definitions because
  torchvision's wheels for this torch are CUDA builds;
- ``video``: an R3D-style network whose 3-D convolutions are a subclass of ``nn.Conv3d``
  (torchvision's ``Conv3DSimple``);
- ``detection``: a ResNet backbone with a feature pyramid (torchvision's detection backbones);
- ``vit``: torchvision-style ViT on ``nn.MultiheadAttention`` (its ``out_proj`` is a
  ``NonDynamicallyQuantizableLinear``);
- ``transformers``: decoders (Llama, Qwen2 with tied embeddings, Mistral, GPT-2 with its ``Conv1D``),
  encoders (BERT, ViT, Whisper's encoder), encoder-decoders (T5, BART), and torch's own
  ``nn.TransformerEncoder``;
- ``plain``: torch models with a tied output layer and a layer called twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Architecture", "ARCHITECTURES", "architecture"]


@dataclass(frozen=True)
class Architecture:
    name: str
    family: str
    build: Callable[[], tuple[nn.Module, list[Any]]]
    needs_transformers: bool = False

    def __call__(self) -> tuple[nn.Module, list[Any]]:
        torch.manual_seed(0)
        model, batches = self.build()
        return model.eval(), batches


# ---------------------------------------------------------------------------------------- CNNs


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet-18 layout at a smaller width."""

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, width * 2, width * 4, width * 8]
        layers, cin = [], width
        for i, cout in enumerate(widths):
            layers.append(nn.Sequential(_BasicBlock(cin, cout, 1 if i == 0 else 2), _BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)[-1]), 1))


class _SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, expanded: int, cout: int, stride: int, se: bool) -> None:
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = [nn.Conv2d(cin, expanded, 1, bias=False), nn.BatchNorm2d(expanded), nn.Hardswish(),
                                   nn.Conv2d(expanded, expanded, 3, stride, 1, groups=expanded, bias=False),
                                   nn.BatchNorm2d(expanded), nn.Hardswish()]
        if se:
            layers.append(_SqueezeExcitation(expanded, max(8, expanded // 4)))
        layers += [nn.Conv2d(expanded, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_res else out


class MobileNetV3(nn.Module):
    """torchvision's MobileNetV3-Small building blocks, fewer of them."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish()),
            _InvertedResidual(16, 16, 16, 2, True),
            _InvertedResidual(16, 72, 24, 2, False),
            _InvertedResidual(24, 88, 24, 1, False),
            _InvertedResidual(24, 96, 40, 2, True),
            nn.Sequential(nn.Conv2d(40, 96, 1, bias=False), nn.BatchNorm2d(96), nn.Hardswish()),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(96, 128), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Conv3DSimple(nn.Conv3d):
    """torchvision's video ResNet convolution: a subclass of ``nn.Conv3d``."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(cin, cout, (3, 3, 3), stride, (1, 1, 1), bias=False)


class R3D(nn.Module):
    """torchvision's r3d_18 layout (stem, basic blocks of ``Conv3DSimple``), two stages."""

    def __init__(self, width: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                  nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(Conv3DSimple(width, width), nn.BatchNorm3d(width), nn.ReLU(inplace=True),
                                    Conv3DSimple(width, width), nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.layer2 = nn.Sequential(Conv3DSimple(width, width * 2, 2), nn.BatchNorm3d(width * 2), nn.ReLU(inplace=True),
                                    Conv3DSimple(width * 2, width * 2), nn.BatchNorm3d(width * 2), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(width * 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.layer2(self.layer1(self.stem(x)))), 1))


class FPNBackbone(nn.Module):
    """torchvision's ``resnet_fpn_backbone``: ResNet stages, 1x1 lateral and 3x3 output convolutions."""

    def __init__(self, width: int = 16, out_channels: int = 32) -> None:
        super().__init__()
        self.body = ResNet(width)
        channels = [width * 2, width * 4, width * 8]
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in channels)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.body.features(x)[1:]
        last = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last)]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[i](feats[i])
            last = lateral + nn.functional.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[i](last))
        return tuple(results)


class _EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """torchvision's ``VisionTransformer``: a patch convolution, a class token, MultiheadAttention blocks."""

    def __init__(self, image: int = 32, patch: int = 8, dim: int = 64, layers: int = 2, classes: int = 10) -> None:
        super().__init__()
        self.patch = patch
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.layers = nn.Sequential(*(_EncoderBlock(dim, 4, dim * 2) for _ in range(layers)))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.layers(x))[:, 0])


# ---------------------------------------------------------------------------------------- plain torch


class TiedLM(nn.Module):
    """An embedding whose weight the output layer shares (``lm_head.weight is embed.weight``)."""

    def __init__(self, vocab: int = 64, dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(torch.relu(self.proj(self.embed(ids))))


class ReusedLayer(nn.Module):
    """One Linear called twice in a forward."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.inp = nn.Linear(16, dim)
        self.shared = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(x))
        x = torch.relu(self.shared(x))
        return self.out(torch.relu(self.shared(x)))


def _images(size: int = 32, channels: int = 3) -> list[torch.Tensor]:
    return [torch.randn(2, channels, size, size) for _ in range(2)]


# ---------------------------------------------------------------------------------------- transformers


def _ids(vocab: int, length: int = 16, **extra: Callable[[], torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    return [{"input_ids": torch.randint(3, vocab, (2, length)), **{k: f() for k, f in extra.items()}}
            for _ in range(2)]


_SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=256)


def _llama():
    import transformers as T

    return T.LlamaForCausalLM(T.LlamaConfig(num_key_value_heads=2, **_SMALL)), _ids(256)


def _qwen2():
    import transformers as T

    return T.Qwen2ForCausalLM(T.Qwen2Config(num_key_value_heads=2, tie_word_embeddings=True, **_SMALL)), _ids(256)


def _mistral():
    import transformers as T

    return T.MistralForCausalLM(T.MistralConfig(num_key_value_heads=2, **_SMALL)), _ids(256)


def _gpt2():
    import transformers as T

    config = T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=256, n_positions=64, bos_token_id=1,
                          eos_token_id=2)
    return T.GPT2LMHeadModel(config), _ids(256)


def _bert():
    import transformers as T

    return T.BertModel(T.BertConfig(max_position_embeddings=64, **_SMALL)), _ids(256)


def _t5():
    import transformers as T

    config = T.T5Config(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16, vocab_size=256)
    return T.T5Model(config), _ids(256, 12, decoder_input_ids=lambda: torch.randint(3, 256, (2, 8)))


def _bart():
    import transformers as T

    config = T.BartConfig(d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=256,
                          max_position_embeddings=64)
    return T.BartForConditionalGeneration(config), _ids(256, 12)


def _hf_vit():
    import transformers as T

    config = T.ViTConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         image_size=32, patch_size=8)
    return T.ViTModel(config), _images()


def _whisper_encoder():
    import transformers as T

    config = T.WhisperConfig(d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_layers=2,
                             decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, num_mel_bins=16,
                             max_source_positions=32, vocab_size=256, pad_token_id=0, bos_token_id=1,
                             eos_token_id=2, decoder_start_token_id=1)
    return T.WhisperModel(config).get_encoder(), [torch.randn(2, 16, 64) for _ in range(2)]


def _torch_transformer():
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), [torch.randn(2, 10, 64) for _ in range(2)]


def _entries() -> Iterator[Architecture]:
    yield Architecture("resnet", "cnn", lambda: (ResNet(), _images()))
    yield Architecture("mobilenet_v3", "cnn", lambda: (MobileNetV3(), _images()))
    yield Architecture("r3d", "video", lambda: (R3D(), [torch.randn(1, 3, 4, 32, 32) for _ in range(2)]))
    yield Architecture("resnet_fpn", "detection", lambda: (FPNBackbone(), _images(64)))
    yield Architecture("torchvision_vit", "vit", lambda: (VisionTransformer(), _images()))
    yield Architecture("tied_lm", "plain", lambda: (TiedLM(), [torch.randint(0, 64, (2, 8)) for _ in range(2)]))
    yield Architecture("reused_layer", "plain", lambda: (ReusedLayer(), [torch.randn(4, 16) for _ in range(2)]))
    yield Architecture("nn_transformer_encoder", "transformers", _torch_transformer)
    for name, build in (("llama", _llama), ("qwen2", _qwen2), ("mistral", _mistral), ("gpt2", _gpt2),
                        ("bert", _bert), ("t5", _t5), ("bart", _bart), ("vit", _hf_vit),
                        ("whisper_encoder", _whisper_encoder)):
        yield Architecture(name, "transformers", build, needs_transformers=True)


ARCHITECTURES: tuple[Architecture, ...] = tuple(_entries())


def architecture(name: str) -> Architecture:
    return next(a for a in ARCHITECTURES if a.name == name)
