"""What an upload must pass to become a job: its decoding and speaker options, its media (read
by the checker processes), its place in the queue, and whether the same upload is already a job."""
