"""``--target NAME``: the AMCT behaviour a command checks and resolves against (:mod:`cfglang.capabilities`).

Shared by ``amct lint``, ``amct plan``, ``amct explain`` and ``amct convert``; the
option wins over ``target`` of the settings (``[tool.amct]`` or ``amct.toml``).
"""

from __future__ import annotations

import argparse

from cfglang.capabilities import TARGETS, TargetError, get_target

__all__ = ["add_target_argument", "target_name"]


def target_name(text: str) -> str:
    """An argparse type: a known target's name, or a usage error that lists them."""
    try:
        return get_target(text).name
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", dest="amct_target", type=target_name, metavar="NAME",
                        help="the AMCT behaviour to check against: " + ", ".join(TARGETS)
                             + " (default: `target` of the settings, else documented; `amct explain NAME` "
                               "prints one's capability table)")
