"""What an upload must pass to become a job: its decoding and speaker options, its media (ffprobe),
its place in the queue, and whether the same upload is already a job."""
