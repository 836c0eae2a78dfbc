"""whisper-api's benchmark suite: `make bench` (python -m bench) writes docs/benchmarks.md.

Not part of `make test`: it takes a quarter of an hour and its numbers describe the machine.
"""
