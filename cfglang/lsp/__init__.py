"""The language server for AMCT config files (``amct lsp``, built on pygls).

A thin converter: every finding comes from the same pipeline ``amct lint``
runs, and every position is converted at the edge (:mod:`cfglang.lsp.positions`).
Only this package imports pygls.
"""
