"""cfglang.resolve is the resolver, then the model-aware checks on the finished resolution; the resolver
itself reports nothing."""

from __future__ import annotations

import cfglang
from cfglang import modelcheck
from cfglang.checker import check
from cfglang.inventory import Inventory
from cfglang.resolution import Resolution

INVENTORY = Inventory.from_dict({"version": 1, "layers": [{"name": "conv", "type": "Conv2d"},
                                                          {"name": "fc", "type": "Linear"}]})
TEXT = ('skip_layers: "cnov"\n'
        'override_layer_types { layer_type: "Linear" calibration_config { arq_quantize { channel_wise: false } } }\n')


def test_the_resolver_reports_nothing_and_the_model_checks_read_its_result() -> None:
    checked = check(TEXT)
    resolution = Resolution(checked, INVENTORY)
    plan = resolution.plan()
    assert plan.diagnostics == ()
    found = modelcheck.diagnostics(resolution)
    assert sorted(d.code for d in found) == ["M001", "M012"]  # unknown layer; an override that changes nothing
    public = cfglang.resolve(checked, INVENTORY)
    assert public == plan and public.diagnostics == tuple(found)
