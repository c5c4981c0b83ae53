"""Schema rules (F): fields, value kinds, ranges, enums, duplicates, required fields.

Most come from the proto descriptor, found while :mod:`cfglang.checker` builds the
message (unknown fields, kinds, duplicates, oneofs, required fields) and by
:func:`cfglang.schema.convert_scalar` (a scalar that cannot be stored): nothing is
written per field. The checks of the final message (keys and skip items given
twice) sit below their rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cfglang.capabilities import Target
from cfglang.diagnostics import Severity
from cfglang.message import is_set
from cfglang.rules import rule
from cfglang.rules.findings import Checks, Finding

__all__ = [
    "CHECKS",
    "repeated_keys",
    "UNKNOWN_FIELD",
    "WRONG_VALUE_KIND",
    "INTEGER_OUT_OF_RANGE",
    "NEGATIVE_UNSIGNED",
    "INVALID_NUMBER",
    "UNKNOWN_ENUM_VALUE",
    "LIST_ON_SINGULAR_FIELD",
    "MISSING_REQUIRED_FIELD",
    "DUPLICATE_FIELD",
    "MESSAGE_GIVEN_TWICE",
    "ONEOF_CONFLICT",
    "DUPLICATE_LAYER_TYPE",
    "DUPLICATE_LAYER_NAME",
    "MISSING_COLON_BEFORE_LIST",
    "REPEATED_SKIP_ITEM",
    "OTHER_CONFIG_KIND",
]

_F = "schema"

CHECKS = Checks()

UNKNOWN_FIELD = rule(
    "F001", "unknown-field", Severity.ERROR,
    "a field name that the message does not have",
    "protobuf's `text_format.Merge`, which AMCT uses to read the file, stops at the first field "
    "name its message does not declare, so AMCT refuses the whole file. The hint suggests the "
    "closest field of the same message, or names the message the field belongs to when it was "
    "written in the wrong block (`num_of_bins` belongs to `hfmg_quantize`).",
    "common_config {\n  arq_quantize { quant_bit: 7 }\n}\n",
    "common_config {\n  arq_quantize { quant_bits: 7 }\n}\n",
    family=_F,
)

WRONG_VALUE_KIND = rule(
    "F002", "wrong-value-kind", Severity.ERROR,
    "a value of the wrong kind for its field (string, number, identifier, block)",
    "Each field has one type in the proto: a string field needs a quoted string, a bool field "
    "`true`/`false` (also `True`, `t`, `1`, `False`, `f`, `0`: exactly the spellings protobuf's "
    "Python reader accepts, so `0x1` is refused), an enum field a value name or number, a message "
    "field a `{ ... }` block. Anything else makes AMCT refuse the file.",
    "do_fusion: \"yes\"\n",
    "do_fusion: true\n",
    family=_F,
)

INTEGER_OUT_OF_RANGE = rule(
    "F003", "integer-out-of-range", Severity.ERROR,
    "an integer that does not fit the field's type",
    "`uint32` fields hold 0 to 4294967295 (`int32` -2147483648 to 2147483647, and so on for "
    "64-bit types). protobuf refuses a larger literal and AMCT with it.",
    "batch_num: 4294967296\n",
    "batch_num: 4\n",
    family=_F,
)

NEGATIVE_UNSIGNED = rule(
    "F004", "negative-unsigned", Severity.ERROR,
    "a minus sign on an unsigned field",
    "Unsigned fields (`batch_num`, `quant_bits`, `num_iteration`, `num_of_bins`) take no sign. "
    "protobuf refuses negative values; it happens to read `-0` as 0, but a sign on an unsigned "
    "field is always a mistake, so `-0` is reported too.",
    "batch_num: -2\n",
    "batch_num: 2\n",
    family=_F,
)

INVALID_NUMBER = rule(
    "F005", "wrong-number-type", Severity.ERROR,
    "a number that protobuf cannot read as the field's type",
    "Integer fields take decimal, octal (`017`) or hex (`0x1F`) integers, never a float such as "
    "`2.0` or `1e3`, and `09` is not a valid octal number. Float fields take decimal floats or "
    "integers, but not hex or octal ones (`0x10`, `017`). protobuf's reader refuses these, and "
    "with it AMCT.",
    "batch_num: 2.0\n",
    "batch_num: 2\n",
    family=_F,
)

UNKNOWN_ENUM_VALUE = rule(
    "F006", "unknown-enum-value", Severity.ERROR,
    "an enum name or number that the field's enum does not have",
    "Enum fields take one of the names of their own enum (`fakequant_precision_mode: "
    "FORCE_FP16_QUANT`, `dst_type: INT8`) or its number; names are case-sensitive. `dst_type` "
    "uses the `CalibrationDataType` enum nested in its own message.",
    "fakequant_precision_mode: FORCE_FP32_QUANT\n",
    "fakequant_precision_mode: FORCE_FP16_QUANT\n",
    family=_F,
)

LIST_ON_SINGULAR_FIELD = rule(
    "F007", "list-on-singular-field", Severity.ERROR,
    "list syntax `[...]` on a field that is not repeated",
    "Only repeated fields (`skip_layers`, `skip_layer_types`, `skip_fusion_layers`, "
    "`override_layer_types`, `override_layer_configs`) accept `[a, b]`. On a singular field "
    "protobuf refuses the list.",
    "batch_num: [2]\n",
    "batch_num: 2\n",
    family=_F,
)

MISSING_REQUIRED_FIELD = rule(
    "F008", "missing-required-field", Severity.ERROR,
    "a required field is missing",
    "`override_layer_types` entries need `layer_type` and `calibration_config`; "
    "`override_layer_configs` entries need `layer_name` and `calibration_config`. protobuf's Python "
    "reader does not check this, so the file loads, but AMCT fails later when it uses the entry.",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n",
    family=_F,
)

DUPLICATE_FIELD = rule(
    "F009", "duplicate-field", Severity.WARNING,
    "a singular field given twice: the last value wins",
    "AMCT reads the file with `text_format.Merge`, which silently keeps the last value of a "
    "singular field. The earlier value has no effect, which is rarely what was meant. The fix "
    "deletes the earlier occurrence, which leaves what AMCT reads unchanged.",
    "batch_num: 2\nbatch_num: 4\n",
    "batch_num: 4\n",
    family=_F,
)

MESSAGE_GIVEN_TWICE = rule(
    "F010", "message-given-twice", Severity.WARNING,
    "a singular block given twice: protobuf merges the two",
    "A singular message field (`common_config`, `arq_quantize`, ...) written twice in one message "
    "is not replaced: `text_format.Merge` merges the second block into the first, field by field, "
    "later values winning. Write one block.",
    "common_config { arq_quantize { quant_bits: 7 } }\ncommon_config { ifmr_quantize { } }\n",
    "common_config {\n  arq_quantize { quant_bits: 7 }\n  ifmr_quantize { }\n}\n",
    family=_F,
)

ONEOF_CONFLICT = rule(
    "F011", "oneof-conflict", Severity.WARNING,
    "two members of one oneof in one block: the earlier one is dropped",
    "`arq_quantize`/`ada_quantize` (weights) and `ifmr_quantize`/`hfmg_quantize` (activations) are "
    "oneofs: AMCT keeps the member written last and drops the other block whole, as the "
    "documentation says. The warning is on the dropped block; the fix deletes it, which leaves "
    "what AMCT reads unchanged.",
    "common_config {\n  ifmr_quantize { search_step: 0.02 }\n  hfmg_quantize { num_of_bins: 2048 }\n}\n",
    "common_config {\n  hfmg_quantize { num_of_bins: 2048 }\n}\n",
    family=_F,
)

DUPLICATE_LAYER_TYPE = rule(
    "F012", "duplicate-layer-type", Severity.ERROR,
    "the same `layer_type` in two `override_layer_types` entries",
    "AMCT refuses a config whose `override_layer_types` names one type twice (\"Please delete "
    "repeated items\"). Merge the two entries into one.",
    "override_layer_types { layer_type: \"Conv2d\" calibration_config { } }\n"
    "override_layer_types { layer_type: \"Conv2d\" calibration_config { } }\n",
    "override_layer_types { layer_type: \"Conv2d\" calibration_config { } }\n",
    family=_F,
)

DUPLICATE_LAYER_NAME = rule(
    "F013", "duplicate-layer-name", Severity.ERROR,
    "the same `layer_name` in two `override_layer_configs` entries",
    "AMCT refuses a config whose `override_layer_configs` names one layer twice (\"Please delete "
    "repeated items\"). Merge the two entries into one.",
    "override_layer_configs { layer_name: \"fc\" calibration_config { } }\n"
    "override_layer_configs { layer_name: \"fc\" calibration_config { } }\n",
    "override_layer_configs { layer_name: \"fc\" calibration_config { } }\n",
    family=_F,
)

def repeated_keys(m: Any) -> Iterator[Finding]:
    """`layer_type` or `layer_name` used by two override entries (the only check across entries)."""
    for list_name, key, code in (("override_layer_types", "layer_type", DUPLICATE_LAYER_TYPE),
                                 ("override_layer_configs", "layer_name", DUPLICATE_LAYER_NAME)):
        first: dict[str, int] = {}
        for i, entry in enumerate(getattr(m, list_name)):
            if not is_set(entry, key):
                continue
            value = getattr(entry, key)
            if value in first:
                yield Finding(code, f"`{key}: \"{value}\"` appears again in `{list_name}`, expected each once",
                              (list_name, i, key),
                              "merge the two entries into one (AMCT: \"Please delete repeated items\")",
                              (((list_name, first[value], key), "first used here"),))
            else:
                first[value] = i


@CHECKS.on("AMCTConfig")
def _repeated_override_keys(m: Any, target: Target) -> Iterator[Finding]:
    return repeated_keys(m)


MISSING_COLON_BEFORE_LIST = rule(
    "F014", "missing-colon-before-list", Severity.ERROR,
    "a scalar field's list without the `:` before `[`",
    "A scalar field needs a colon even in list form, even for the empty list: `skip_layers: []`. "
    "Only message fields may leave it out (`override_layer_types []`). protobuf refuses the file "
    "otherwise. (The parser reports a non-empty list of scalars itself; an empty list needs the "
    "schema to tell which kind of field it is.)",
    "skip_layers []\n",
    "skip_layers: []\n",
    family=_F,
)

REPEATED_SKIP_ITEM = rule(
    "F015", "repeated-skip-item", Severity.ERROR,
    "a name repeated in `skip_layers`, `skip_layer_types` or `skip_fusion_layers`",
    "AMCT refuses a config that lists one name twice in a skip list (`check_no_repeated`: "
    "\"Please delete repeated items\"). The diagnostic is at the repeat, with the first one as related "
    "location.",
    "skip_layers: \"fc\"\nskip_layers: \"fc\"\n",
    "skip_layers: \"fc\"\n",
    family=_F,
)

@CHECKS.on("AMCTConfig")
def _repeated_items(m: Any, target: Target) -> Iterator[Finding]:
    """A name given twice in a skip list: AMCT's `check_no_repeated` raises "Please delete repeated items"."""
    for list_name in ("skip_layers", "skip_layer_types", "skip_fusion_layers"):
        first: dict[str, int] = {}
        for i, name in enumerate(getattr(m, list_name)):
            if name in first:
                yield Finding(REPEATED_SKIP_ITEM, f"`\"{name}\"` appears again in `{list_name}`, expected each once",
                              (list_name, i), "delete the repeat (AMCT: \"Please delete repeated items\")",
                              (((list_name, first[name]), "first given here"),))
            else:
                first[name] = i


OTHER_CONFIG_KIND = rule(
    "F016", "other-config-kind", Severity.ERROR,
    "the file is written for another AMCT configuration kind",
    "AMCT has sibling configuration files in the same text format: quantization-aware training "
    "(`retrain_config_pytorch.proto`), KV-cache calibration (`quant_calibration_config_pytorch.proto`), "
    "distillation (`distill_config_pytorch.proto`), pruning and auto channel-prune search, the older "
    "NUQ config, and the TensorFlow / ONNX / Caffe / ATC calibration configs. A post-training "
    "quantization simple config (`calibration_config_pytorch.proto`) refuses their fields. At the first "
    "field that tells which kind the file is, one diagnostic names the kind and its proto; the file's "
    "other unknown fields are its related places (the first 20), not one F001 each, and `--statistics` "
    "counts every one of them under F016; no other check of ours (values, capabilities, the model) runs on "
    "a file whose fields mean something else.",
    "retrain_data_quant_config {\n  ulq_quantize { clip_max_min { clip_max: 6.0 clip_min: -6.0 } }\n}\n",
    "common_config {\n  ifmr_quantize { }\n}\n",
    family=_F,
)
