"""A small seeded generator of config texts for the differential test.

Covers every field of the schema, every value form protobuf's reader takes
(decimal/octal/hex integers, every float spelling, every bool spelling, enum
names and numbers, both quote styles, escapes, adjacent strings) and every
syntax variant (``{}``/``<>``, optional colon before blocks, ``,``/``;``
separators, list syntax for repeated scalars and messages, comments, tabs and
CRLF). With ``valid=True`` the values also keep every value rule (so ``load``
accepts them); ``duplicates=True`` adds singular fields given twice, blocks
given twice and oneof conflicts, which ``Merge`` accepts (last wins).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cfglang import capabilities as caps

__all__ = ["Generator", "generate"]


@dataclass
class Generator:
    rng: random.Random
    valid: bool = True
    duplicates: bool = False

    # --- lexical forms -----------------------------------------------------

    def ws(self) -> str:
        return self.rng.choice([" ", " ", "\n", "\n  ", "\t", "\r\n", "  # note\n", "\n# comment line\n"])

    def sep(self) -> str:
        return self.rng.choice(["", "", "", ",", ";"])

    def integer(self, value: int) -> str:
        forms = [str(value)]
        if value > 0:
            forms += [hex(value), hex(value).upper().replace("0X", "0x"), "0" + oct(value)[2:]]
        return self.rng.choice(forms)

    def float_(self, value: float) -> str:
        text = repr(value)
        forms = [text, text + "f", text + "F", f"{value:e}", f"{value:.3E}".replace("E", "e")]
        if text.startswith("0."):
            forms.append(text[1:])
        if value == int(value):
            forms += [str(int(value)), f"{int(value)}.", f"{int(value)}f"]
        return self.rng.choice(forms)

    def bool_(self, value: bool) -> str:
        return self.rng.choice(["true", "True", "t", "1"] if value else ["false", "False", "f", "0"])

    def string(self, value: str) -> str:
        """``value`` as one or more adjacent literals, with escapes protobuf's reader decodes back."""
        parts = [value] if len(value) < 2 or self.rng.random() < 0.7 else [value[: len(value) // 2],
                                                                         value[len(value) // 2:]]
        return " ".join(self._literal(p) for p in parts)

    def _literal(self, value: str) -> str:
        quote = self.rng.choice(['"', "'"])
        out = []
        for ch in value:
            r = self.rng.random()
            if ch in (quote, "\\"):
                out.append("\\" + ch)
            elif ch == "\n":
                out.append("\\n")
            elif ord(ch) > 127:
                out.append(self.rng.choice([ch, f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"]))
            elif r < 0.08:
                out.append(f"\\x{ord(ch):02x}")
            elif r < 0.16:
                out.append(f"\\{ord(ch):03o}")
            else:
                out.append(ch)
        return quote + "".join(out) + quote

    def name(self) -> str:
        base = self.rng.choice(["conv1", "features.0", "layer1.0.conv2", "fc", "head.proj", "blocks.3.attn.qkv"])
        return base + self.rng.choice(["", "", f".{self.rng.randrange(10)}", "_é", "\t"])

    # --- values: valid ones (V rules), or (valid=False) anything protobuf's reader stores ---

    def int_(self, choices: list[int]) -> str:
        if not self.valid and self.rng.random() < 0.3:
            return self.integer(self.rng.choice([0, 3, 1000, 65535, 4294967295, self.rng.randrange(1 << 32)]))
        return self.integer(self.rng.choice(choices))

    def num(self, choices: list[float]) -> str:
        if not self.valid and self.rng.random() < 0.3:
            return self.rng.choice(["inf", "-inf", "nan", "-1.5", "1e39", "0", "-0.0", "Infinity", "1e-50", "3.4e38"])
        return self.float_(self.rng.choice(choices))

    def layer_type(self, layer_type: str) -> str:
        if not self.valid and self.rng.random() < 0.2:
            return self.rng.choice(["conv2d", "Optype", "BatchNorm2d", ""])
        return layer_type

    # --- fields ------------------------------------------------------------

    def scalar(self, name: str, text: str) -> str:
        return f"{name}{self.rng.choice([':', ': ', ' : ', ':  '])}{text}{self.sep()}"

    def block(self, name: str, body: list[str], depth: int) -> str:
        opener, closer = self.rng.choice([("{", "}"), ("{", "}"), ("<", ">")])
        colon = self.rng.choice(["", ":", ": ", " "])
        pad = "\n" + "  " * (depth + 1)
        inner = pad.join(body)
        return f"{name}{colon} {opener}{pad if body else ''}{inner}{self.ws()}{closer}{self.sep()}"

    def fields(self, items: list[str]) -> list[str]:
        self.rng.shuffle(items)
        return items

    def arq(self, layer_type: str | None, depth: int) -> str:
        body = []
        if self.rng.random() < 0.6:
            allowed = layer_type is None or layer_type in caps.get_target().channel_wise
            body.append(self.scalar("channel_wise", self.bool_(self.rng.random() < 0.5 and allowed)))
        if self.rng.random() < 0.6:
            bits = [8] if layer_type not in (None, "Conv2d") else [6, 7, 8]
            body.append(self.scalar("quant_bits", self.int_(bits)))
        return self.block("arq_quantize", self.fields(body), depth)

    def ada(self, layer_type: str | None, depth: int) -> str:
        body = []
        pick = self.rng.random
        if pick() < 0.5:
            body.append(self.scalar("num_iteration", self.int_([1, 100, 5000, 10000])))
        if pick() < 0.5:
            body.append(self.scalar("reg_param", self.num([0.01, 0.5, 0.001])))
        start, end = self.rng.choice([(20.0, 2.0), (40.0, 30.0), (8.0, 0.5)])
        if pick() < 0.5:
            body += [self.scalar("beta_range_start", self.num([start])),
                     self.scalar("beta_range_end", self.num([end]))]
        if pick() < 0.5:
            body.append(self.scalar("warm_start", self.num([0.2, 0.5, 0.1])))
        if pick() < 0.5:
            allowed = layer_type is None or layer_type in caps.get_target().channel_wise
            body.append(self.scalar("channel_wise", self.bool_(pick() < 0.5 and allowed)))
        return self.block("ada_quantize", self.fields(body), depth)

    def ifmr(self, layer_type: str | None, depth: int) -> str:
        body = []
        pick = self.rng.random
        start, end, step = self.rng.choice([(0.7, 1.3, 0.01), (0.8, 1.2, 0.02), (0.5, 1.5, 0.1)])
        if pick() < 0.6:
            body += [self.scalar("search_range_start", self.num([start])),
                     self.scalar("search_range_end", self.num([end])),
                     self.scalar("search_step", self.num([step]))]
        for name in ("max_percentile", "min_percentile"):
            if pick() < 0.4:
                body.append(self.scalar(name, self.num([0.999999, 1.0, 0.99])))
        body += self._activation_tail(layer_type)
        return self.block("ifmr_quantize", self.fields(body), depth)

    def hfmg(self, layer_type: str | None, depth: int) -> str:
        body = []
        if self.rng.random() < 0.6:
            body.append(self.scalar("num_of_bins", self.int_([1024, 2048, 4096, 8192])))
        body += self._activation_tail(layer_type)
        return self.block("hfmg_quantize", self.fields(body), depth)

    def _activation_tail(self, layer_type: str | None) -> list[str]:
        out = []
        if self.rng.random() < 0.5:
            allowed = layer_type != "Conv3d"
            out.append(self.scalar("asymmetric", self.bool_(self.rng.random() < 0.5 and allowed)))
        if self.rng.random() < 0.3:
            out.append(self.scalar("dst_type", self.rng.choice(["INT8", "1", "0x1"] if self.valid else ["INT8", "INT16", "2", "0x2"])))
        return out

    def dmq(self, depth: int) -> str:
        body = []
        if self.rng.random() < 0.7:
            body.append(self.scalar("migration_strength", self.num([0.2, 0.5, 0.8, 0.35])))
        return self.block("dmq_balancer", body, depth)

    def calibration(self, name: str, layer_type: str | None, depth: int) -> str:
        body = []
        pick = self.rng.random
        weightless = layer_type == "AvgPool2d"
        if pick() < 0.8 and not weightless:
            ada_ok = layer_type is None or layer_type in caps.get_target().ada
            body.append(self.ada(layer_type, depth + 1) if ada_ok and pick() < 0.4 else self.arq(layer_type, depth + 1))
        if pick() < 0.8:
            body.append(self.hfmg(layer_type, depth + 1) if pick() < 0.4 else self.ifmr(layer_type, depth + 1))
        if pick() < 0.4 and (layer_type is None or layer_type in caps.get_target().dmq):
            body.append(self.dmq(depth + 1))
        if self.duplicates:
            body += self._conflicts(layer_type, depth + 1)
        return self.block(name, body, depth)

    def _conflicts(self, layer_type: str | None, depth: int) -> list[str]:
        """Blocks that Merge accepts but that override or drop earlier ones (warnings only)."""
        out = []
        if self.rng.random() < 0.5 and layer_type != "AvgPool2d":
            out.append(self.arq(layer_type, depth))  # a second arq: merged, or drops an ada
        if self.rng.random() < 0.5:
            out.append(self.ifmr(layer_type, depth) if self.rng.random() < 0.5 else self.hfmg(layer_type, depth))
        return out

    def override_type(self, layer_type: str, depth: int) -> str:
        body = [self.scalar("layer_type", self.string(self.layer_type(layer_type))),
                self.calibration("calibration_config", layer_type, depth + 1)]
        if not self.valid and self.rng.random() < 0.15:
            body.pop(self.rng.randrange(2))  # a required field missing: Merge does not mind
        return self.block("override_layer_types", body, depth) if self.rng.random() < 0.8 else self._as_list_item(body)

    def override_layer(self, name: str, depth: int) -> str:
        body = [self.scalar("layer_name", self.string(name)), self.calibration("calibration_config", None, depth + 1)]
        return self.block("override_layer_configs", body, depth)

    def _as_list_item(self, body: list[str]) -> str:
        return "override_layer_types" + self.rng.choice([": ", " ", ":"]) + "[{" + " ".join(body) + "}]" + self.sep()

    def names(self, count: int) -> list[str]:
        """``count`` layer names; without repeats when valid (AMCT refuses a repeat in a skip list, F015)."""
        names = [self.name() for _ in range(count)]
        return list(dict.fromkeys(names)) if self.valid else names

    def repeated_strings(self, name: str, values: list[str]) -> list[str]:
        out, i = [], 0
        while i < len(values):
            if self.rng.random() < 0.4:
                n = self.rng.randint(0, 3)
                chunk = values[i: i + n]
                out.append(f"{name}: [" + ", ".join(self.string(v) for v in chunk) + "]" + self.sep())
                i += len(chunk)
                if n == 0:
                    continue
            else:
                out.append(self.scalar(name, self.string(values[i])))
                i += 1
        return out

    def config(self) -> str:
        pick = self.rng.random
        items: list[str] = []
        if pick() < 0.7:
            items.append(self.scalar("batch_num", self.int_([1, 2, 8, 32])))
        if pick() < 0.5:
            items.append(self.scalar("activation_offset", self.bool_(pick() < 0.5)))
        if pick() < 0.5:
            items.append(self.scalar("do_fusion", self.bool_(pick() < 0.5)))
        if pick() < 0.3:
            items.append(self.scalar("fakequant_precision_mode", self.rng.choice(["FORCE_FP16_QUANT", "1"])))
        if pick() < 0.5:
            items += self.repeated_strings("skip_layers", self.names(self.rng.randint(1, 4)))
        if pick() < 0.4:
            items += self.repeated_strings("skip_layer_types", self.rng.sample(caps.QUANTIZABLE, self.rng.randint(1, 3)))
        if pick() < 0.4:
            items += self.repeated_strings("skip_fusion_layers", self.names(self.rng.randint(1, 3)))
        if pick() < 0.8:
            items.append(self.calibration("common_config", None, 0))
        for layer_type in self.rng.sample(caps.QUANTIZABLE, self.rng.randint(0, 4)):
            items.append(self.override_type(layer_type, 0))
        names = list(dict.fromkeys(self.name() for _ in range(self.rng.randint(0, 4))))
        for name in names:
            items.append(self.override_layer(name, 0))
        if self.duplicates:
            items += self._top_duplicates()
        head = self.rng.choice(["", "# proto-file: calibration_config_pytorch.proto\n# proto-message: AMCTConfig\n"])
        body = ""
        for item in self.fields(items):
            body += item + self.ws()
        return head + body

    def _top_duplicates(self) -> list[str]:
        out = [self.scalar("batch_num", self.integer(self.rng.choice([1, 4])))]
        if self.rng.random() < 0.5:
            out.append(self.scalar("do_fusion", self.bool_(self.rng.random() < 0.5)))
        if self.rng.random() < 0.5:
            out.append(self.calibration("common_config", None, 0))  # a second common_config: merged
        return out


def generate(seed: int, *, valid: bool = True, duplicates: bool = False) -> str:
    return Generator(random.Random(seed), valid, duplicates).config()
