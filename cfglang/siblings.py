"""AMCT's other configuration kinds: the fields that tell a file was written for one of them.

AMCT reads several text-format configs besides the post-training quantization
"simple config" (``calibration_config_pytorch.proto``). A file written for one of
them fails with a cascade of unknown fields; the checker reports one diagnostic
(F016) at the first field that tells which kind it is instead, and never offers
to rename a sibling's real field into one of ours.

The fields come from AMCT's own protos (``retrain_config_pytorch.proto``,
``quant_calibration_config_pytorch.proto``, ``distill_config_pytorch.proto``,
``basic_info.proto`` in ``amct_pytorch/classic/graph_based/amct_pytorch/proto/``)
and from the fields AMCT's ``common/config/proto_config.py`` reads only when the
framework's proto declares them (``joint_quant``, ``weight_offset``,
``tensor_quantize``, ``conv_calibration_config``, ``fc_calibration_config``,
``skip_approximation_layers``: the TensorFlow / ONNX / Caffe / ATC calibration configs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cfglang.syntax import Document, Field, ListValue, MessageValue

__all__ = ["Kind", "KINDS", "FIELDS", "kinds_of", "first_telling_field", "describe"]


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # what the config is for
    proto: str  # the proto file AMCT reads it with (a `.proto` name), or words where it has none of its own
    message: str | None = None  # the proto's message, where the file holds more than one


RETRAIN = Kind("a quantization-aware training (QAT / retrain) config", "retrain_config_pytorch.proto")
PRUNE = Kind("a pruning config (the `prune_config` of QAT / retrain)", "retrain_config_pytorch.proto")
AUTO_PRUNE = Kind("an auto channel-prune search config", "basic_info.proto", "AutoChannelPruneConfig")
KV_CACHE = Kind("a KV-cache calibration config", "quant_calibration_config_pytorch.proto")
DISTILL = Kind("a distillation config", "distill_config_pytorch.proto")
NUQ = Kind("an NUQ (non-uniform quantization) config of older AMCT releases", "the NUQ calibration proto")
OTHER_FRAMEWORK = Kind("a TensorFlow / ONNX / Caffe / ATC calibration config",
                       "that framework's calibration config proto")

KINDS: tuple[Kind, ...] = (RETRAIN, PRUNE, AUTO_PRUNE, KV_CACHE, DISTILL, NUQ, OTHER_FRAMEWORK)


def _table(*groups: tuple[tuple[Kind, ...], str]) -> Mapping[str, tuple[Kind, ...]]:
    out: dict[str, tuple[Kind, ...]] = {}
    for kinds, names in groups:
        for name in names.split():
            out[name] = out.get(name, ()) + tuple(k for k in kinds if k not in out.get(name, ()))
    return MappingProxyType(out)


# field name -> the kinds that declare it (none of them is a field of calibration_config_pytorch.proto)
FIELDS: Mapping[str, tuple[Kind, ...]] = _table(
    ((RETRAIN,), "retrain_data_quant_config retrain_weight_quant_config quant_skip_types ulq_quantize arq_retrain "
                 "ulq_retrain clip_max_min fixed_min clip_max clip_min"),
    ((RETRAIN, DISTILL), "quant_skip_layers"),
    ((PRUNE,), "prune_config regular_prune_skip_layers regular_prune_skip_types filter_pruner n_out_of_m_pruner "
               "balanced_l2_norm_filter_prune l1_selective_prune prune_ratio n_out_of_m_type update_freq"),
    ((AUTO_PRUNE,), "compress_ratio max_prune_ratio test_iteration override_prune_cfg"),
    ((PRUNE, AUTO_PRUNE), "ascend_optimized"),
    ((KV_CACHE,), "kv_cache_quant_config override_layers_configs quant_layers kv_data_quant_config "
                  "quant_granularity"),
    ((DISTILL,), "distill_group distill_data_quant_config distill_weight_quant_config distill_override_layers "
                 "distill_override_layer_types quant_skip_layer_types group_size data_dump start_layer_name "
                 "end_layer_name arq_distill ulq_distill"),
    ((NUQ,), "nuq_quantize nuq_config num_steps snq_quantize"),
    ((OTHER_FRAMEWORK,), "joint_quant weight_offset tensor_quantize conv_calibration_config fc_calibration_config "
                         "skip_approximation_layers input_index update_bn"),
)


def kinds_of(name: str) -> tuple[Kind, ...]:
    """The sibling config kinds that declare a field ``name`` (empty: none)."""
    return FIELDS.get(name, ())


def _walk(fields: list[Field]) -> Iterator[Field]:
    for field in fields:
        yield field
        value = field.value
        values = value.items if isinstance(value, ListValue) else [value]
        for item in values:
            if isinstance(item, MessageValue):
                yield from _walk(item.fields)


def first_telling_field(document: Document, known: set[str]) -> tuple[Field, tuple[Kind, ...]] | None:
    """The first field (in text order) that only a sibling config declares; ``known``: the names of
    ``calibration_config_pytorch.proto``'s fields, which tell nothing."""
    for field in _walk(document.fields):
        if field.name not in known and (kinds := kinds_of(field.name)):
            return field, kinds
    return None


def describe(kinds: tuple[Kind, ...]) -> str:
    """``a distillation config (distill_config_pytorch.proto)``, or both kinds joined with "or"."""
    def where(kind: Kind) -> str:
        if not kind.proto.endswith(".proto"):
            return kind.proto
        return f"`{kind.proto}`" + (f", message `{kind.message}`" if kind.message else "")

    return " or ".join(f"{k.name} ({where(k)})" for k in kinds)
