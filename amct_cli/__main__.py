"""``python -m amct_cli``: the same as ``amct``."""

from amct_cli import main

main()
