"""A realistic sensitivity report for the report tests: a transformer-like inventory of 45 layers (some
with long names and names full of HTML's special characters), a config with a type override and
per-layer overrides, resolved by the real resolver (so every provenance points at the config's real
lines), and measured figures drawn from a fixed seed with the shapes `amct analyze` gives them."""

from __future__ import annotations

import math
import random
from typing import Any

from cfglang.planner import resolve
from cfglang.report import text_edit, text_sha256

HOSTILE = 'head.<img src=x onerror="alert(1)">&amp;\'</script>'
LONG = "encoder.layer.5.attention.output.dense_with_a_deliberately_long_name_that_wraps_in_tables"

CONFIG = f"""\
# W8A8 for a small encoder
batch_num: 4
activation_offset: true
skip_layers: "pooler.dense"
common_config {{
  arq_quantize {{
    channel_wise: false
    quant_bits: 8
  }}
  ifmr_quantize {{
    search_range_start: 0.7
    search_range_end: 1.3
    search_step: 0.01
    max_percentile: 0.999999
    min_percentile: 0.999999
    asymmetric: true
  }}
}}
override_layer_types {{
  layer_type: "Conv2d"
  calibration_config {{
    arq_quantize {{
      channel_wise: true
    }}
    hfmg_quantize {{
      num_of_bins: 4096
    }}
  }}
}}
override_layer_configs {{
  layer_name: "encoder.layer.3.intermediate.dense"
  calibration_config {{
    arq_quantize {{
      quant_bits: 8
    }}
    ifmr_quantize {{
      search_range_start: 0.5
      search_range_end: 1.5
      search_step: 0.02
      max_percentile: 0.99999
      min_percentile: 0.99999
      asymmetric: false
    }}
  }}
}}
override_layer_configs {{
  layer_name: {HOSTILE!r}
  calibration_config {{
    arq_quantize {{
      quant_bits: 8
    }}
  }}
}}
"""

_BLOCK = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
          "intermediate.dense", "output.dense")


def inventory() -> dict[str, Any]:
    layers = [{"name": "embeddings.patch", "type": "Conv2d", "in_channels": 3}]
    for block in range(6):
        for part in _BLOCK:
            name = f"encoder.layer.{block}.{part}"
            layers.append({"name": LONG if name == "encoder.layer.5.attention.output.dense" else name,
                           "type": "Linear", "in_channels": 384, "bias": True})
    layers += [{"name": f"head.conv{i}", "type": "Conv2d", "in_channels": 64} for i in range(6)]
    layers += [{"name": HOSTILE, "type": "Linear", "in_channels": 384, "bias": True},
               {"name": "pooler.dense", "type": "Linear", "in_channels": 384, "bias": True},
               {"name": "classifier", "type": "Linear", "in_channels": 384, "bias": True}]
    return {"version": 1, "model": "tests/reportdata.py", "layers": layers}


def _figures(rng: random.Random, drop: float) -> dict[str, Any]:
    return {"cosine_mean": round(1 - drop, 6), "cosine_min": round(1 - 2.5 * drop, 6),
            "sqnr_db": round(-10 * math.log10(drop) + rng.uniform(-1, 1), 3), "metric": None, "metric_float": None}


def _histogram(rng: random.Random, low: float, high: float) -> dict[str, Any]:
    bins = 48
    edges = [low + (high - low) * i / bins for i in range(bins + 1)]
    scale = (high - low) / 7
    centre = (low + high) / 2 + rng.uniform(-scale, scale)
    counts = [int(5000 * math.exp(-(((a + b) / 2 - centre) / scale) ** 2 / 2)) + rng.randrange(3)
              for a, b in zip(edges, edges[1:])]
    return {"edges": [round(e, 6) for e in edges], "counts": counts}


def report(seed: int = 19, with_tune: bool = True) -> dict[str, Any]:
    """The report's JSON; its config is :data:`CONFIG` (at ``quant.cfg`` beside the report's folder)."""
    plan = resolve(CONFIG, inventory())
    rng = random.Random(seed)
    layers = []
    for layer in plan.layers:
        if not layer.quantize:
            continue
        drop = rng.uniform(1e-5, 4e-4) * (25 if layer.name.endswith("output.dense") and "5" in layer.name else 1)
        observed_min, observed_max = -rng.uniform(0.5, 8), rng.uniform(0.5, 12)
        clip = rng.uniform(0.55, 1.0)
        data = layer.to_dict()
        layers.append({
            "name": layer.name, "type": layer.type, "weight": data["weight"], "activation": data["activation"],
            "dmq_balancer": data["dmq_balancer"], "provenance": data["provenance"],
            "weight_sqnr_db": round(rng.uniform(28, 46), 3),
            "output_cosine": round(1 - drop / 3, 6), "output_sqnr_db": round(rng.uniform(20, 40), 3),
            "clip_min": round(observed_min * clip, 6), "clip_max": round(observed_max * clip, 6),
            "observed_min": round(observed_min, 6), "observed_max": round(observed_max, 6),
            "clipped_share": round(rng.uniform(0, 0.02) * (1 - clip), 6),
            "histogram": _histogram(rng, observed_min, observed_max),
            "isolated_cosine_mean": round(1 - drop, 6), "isolated_cosine_min": round(1 - 2.5 * drop, 6),
            "isolated_sqnr_db": round(-10 * math.log10(drop), 3), "isolated_metric": None,
            "cumulative_cosine": round(1 - drop * (1 + len(layers) / 8), 6),
            "cumulative_sqnr_db": round(rng.uniform(15, 35) - len(layers) / 4, 3),
        })
    out = {
        "version": 1, "config": {"path": "../quant.cfg", "sha256": text_sha256(CONFIG)},
        "model": "tests/reportdata.py:encoder", "target": plan.target,
        "metric": {"name": "output-cosine", "user": False, "higher_is_better": True}, "samples": 48,
        "figures": _figures(rng, 0.004), "layers": layers,
    }
    if with_tune:
        out["tune"] = _tune(rng, out["figures"])
    return out


def _tune(rng: random.Random, before: dict[str, Any]) -> dict[str, Any]:
    """Two changes: HFMG for `encoder.layer.4.output.dense`, then the long-named layer stays float."""
    end_of_skip = CONFIG.index('skip_layers: "pooler.dense"') + len('skip_layers: "pooler.dense"')
    after_setting = _figures(rng, 0.0015)
    after_skip = _figures(rng, 0.0004)
    override = ('override_layer_configs {\n  layer_name: "encoder.layer.4.output.dense"\n  calibration_config {\n'
                '    hfmg_quantize {\n      num_of_bins: 4096\n    }\n  }\n}\n')
    return {
        "config_sha256": text_sha256(CONFIG), "target": {"figure": "cosine_min", "at_least": 0.99}, "met": True,
        "before": before, "after": after_skip,
        "changes": [
            {"kind": "setting", "layers": ["encoder.layer.4.output.dense"],
             "summary": "activation hfmg instead of ifmr",
             "reason": "amct tune: output cosine 0.990 -> 0.996", "before": before, "after": after_setting,
             "edits": [text_edit(CONFIG, len(CONFIG), len(CONFIG),
                                 "# amct tune: output cosine 0.990 -> 0.996\n" + override)]},
            {"kind": "skip", "layers": [LONG], "summary": "keep in float",
             "reason": "amct tune: output cosine 0.996 -> 0.999", "before": after_setting, "after": after_skip,
             "edits": [text_edit(CONFIG, end_of_skip, end_of_skip,
                                 f'\nskip_layers: "{LONG}"  # amct tune: output cosine 0.996 -> 0.999')]},
        ],
    }
