"""The TaskTracker, which moves jobs through their life (task_tracker), what it tells and answers
(tracking), the hosts' shared queue (sharing), and its steps: claims in it, recovery after an
interruption, head starts."""
