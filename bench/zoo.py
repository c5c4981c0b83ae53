"""The engine on real architectures: the test zoo's models, and a 1B-parameter Llama at scale.

``python bench/zoo.py zoo [--only NAME ...]``: every architecture of ``tests/engine/zoo`` (random
weights, built from configs), quantized with IFMR, HFMG and IFMR + DMQ: quantize time, the fake-quant
model's output cosine against FP32 (on the second calibration batch), the ONNX export (which exporter,
time) and ONNX Runtime against the fake-quant model (cosine, ``exact`` session). A Markdown table.

``python bench/zoo.py llama-1b [--tokens 128] [--batches 2]``: a Llama-architecture model of 1.1B
parameters (TinyLlama-1.1B's shape: 22 layers, hidden 2048, MLP 5632, grouped-query attention with 4 KV
heads, vocabulary 32000; random weights) and ``batches`` batches of ``tokens`` tokens. Three child
processes, each building the model the same way: one runs the FP32 forwards, one ``quant.quantize``
(IFMR, ARQ, the default config) over the same batches, one the same with ``layer_cosines=True``. Reports
each phase's time and each process's peak resident memory (``VmHWM``), and the ratios to FP32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "engine"))

CONFIGS = {
    "ifmr": "batch_num: 2\n",
    "hfmg": "batch_num: 2\ncommon_config { hfmg_quantize { num_of_bins: 4096 } }\n",
    "dmq": "batch_num: 2\ncommon_config { dmq_balancer { migration_strength: 0.5 } }\n",
}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _first_output(output) -> np.ndarray:
    from quant.core import output_tensors

    return next(iter(output_tensors(output)))[1].detach().numpy()


def zoo(only: list[str]) -> None:
    import cfglang
    import quant
    from quant.core import run_batch
    from quant.onnx_export import ExportError, export_qdq, onnx_session, run_onnx
    from zoo.architectures import ARCHITECTURES

    print("| architecture | config | quantize (s) | fake-quant vs FP32 cosine | ONNX export (s) | ORT vs fake-quant cosine |")
    print("|---|---|---|---|---|---|")
    for arch in ARCHITECTURES:
        if only and arch.name not in only:
            continue
        model, batches = arch()
        inventory = quant.model_inventory(model, example=batches[0])
        with torch.no_grad():
            reference = _first_output(run_batch(model, batches[1]))
        for name, config in CONFIGS.items():
            plan = cfglang.resolve(config, inventory)
            start = time.perf_counter()
            try:
                result = quant.quantize(model, plan, batches, progress=False)
            except quant.QuantizeError as exc:
                print(f"| {arch.name} | {name} | fails: {exc} | | | |")
                continue
            seconds = time.perf_counter() - start
            with torch.no_grad():
                fake = _first_output(run_batch(result.model, batches[1]))
            start = time.perf_counter()
            try:
                session = onnx_session(export_qdq(result.model, batches[0]), exact=True)
                exported = f"{time.perf_counter() - start:.1f}"
                ort = f"{_cosine(run_onnx(session, batches[0]), _first_output(run_batch(result.model, batches[0]))):.6f}"
            except ExportError as exc:
                exported, ort = f"fails: {exc}", "-"
            print(f"| {arch.name} | {name} | {seconds:.1f} | {_cosine(fake, reference):.5f} | {exported} | {ort} |",
                  flush=True)


def _llama_1b(tokens: int, count: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                         num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    generator = torch.Generator().manual_seed(1)
    batches = [{"input_ids": torch.randint(0, 32000, (1, tokens), generator=generator)} for _ in range(count)]
    return model, batches


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def llama_phase(phase: str, tokens: int, count: int) -> None:
    """One child process: build the model, run the phase, print a JSON line."""
    warnings.simplefilter("ignore")
    model, batches = _llama_1b(tokens, count)
    params = sum(p.numel() for p in model.parameters())
    built = _peak_rss_mib()
    if phase == "fp32":
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                model(**batch)
        seconds = time.perf_counter() - start
        extra = {}
    else:
        import cfglang
        import quant

        start = time.perf_counter()
        plan = cfglang.resolve(f"batch_num: {count}\n", quant.model_inventory(model, example=batches[0]))
        resolved = time.perf_counter() - start
        start = time.perf_counter()
        result = quant.quantize(model, plan, batches, layer_cosines=phase == "quantize-cosines", progress=False)
        seconds = time.perf_counter() - start
        extra = {"resolve_s": resolved, "layers": len(result.layers)}
    print(json.dumps({"phase": phase, "params": params, "seconds": seconds, "peak_mib": _peak_rss_mib(),
                      "built_mib": built, **extra}))


def llama_1b(tokens: int, count: int) -> None:
    runs = {}
    for phase in ("fp32", "quantize", "quantize-cosines"):
        out = subprocess.run([sys.executable, __file__, "llama-phase", phase, "--tokens", str(tokens),
                              "--batches", str(count)], capture_output=True, text=True, check=True,
                             env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        runs[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    fp32, quantized, checked = runs["fp32"], runs["quantize"], runs["quantize-cosines"]
    print(f"Llama-architecture model, {fp32['params'] / 1e9:.2f}B parameters, {count} batches of {tokens} tokens, "
          f"{torch.get_num_threads()} threads\n")
    print("| run | time (s) | peak RSS (MiB) | RSS after building the model (MiB) |")
    print("|---|---|---|---|")
    print(f"| FP32 forwards | {fp32['seconds']:.1f} | {fp32['peak_mib']:.0f} | {fp32['built_mib']:.0f} |")
    print(f"| `quant.quantize` ({quantized['layers']} layers; resolution {quantized['resolve_s']:.1f} s more) | "
          f"{quantized['seconds']:.1f} | {quantized['peak_mib']:.0f} | {quantized['built_mib']:.0f} |")
    print(f"| `quant.quantize(..., layer_cosines=True)` | {checked['seconds']:.1f} | {checked['peak_mib']:.0f} | "
          f"{checked['built_mib']:.0f} |")
    print(f"\nquantize / FP32: time {quantized['seconds'] / fp32['seconds']:.2f}x, "
          f"peak memory {quantized['peak_mib'] / fp32['peak_mib']:.2f}x; with layer_cosines: time "
          f"{checked['seconds'] / fp32['seconds']:.2f}x, peak memory {checked['peak_mib'] / fp32['peak_mib']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zoo")
    z.add_argument("--only", nargs="*", default=[])
    for name in ("llama-1b", "llama-phase"):
        p = sub.add_parser(name)
        if name == "llama-phase":
            p.add_argument("phase", choices=["fp32", "quantize", "quantize-cosines"])
        p.add_argument("--tokens", type=int, default=128)
        p.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.command == "zoo":
        zoo(args.only)
    elif args.command == "llama-1b":
        llama_1b(args.tokens, args.batches)
    else:
        llama_phase(args.phase, args.tokens, args.batches)


if __name__ == "__main__":
    main()
