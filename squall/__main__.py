"""``python -m squall MODULE[:CALLABLE] [options]``, the same as the ``squall`` script."""

from squall.cli import main

main()
