"""The host's decoders: where they run, their processes and pipes, their supervision, the queue of
work waiting for them, and live turns on them."""
