"""The TaskTracker, which moves jobs through their life (task_tracker), what it tells and answers
(tracking), and the hosts' shared queue (sharing). The tracker holds its parts, each an object
with its own state: endings, cancels, recovery after an interruption, claims in the shared queue, the
other hosts' news, and head starts."""
