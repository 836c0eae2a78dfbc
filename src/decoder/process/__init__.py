"""The decoder process's insides: the service loop that answers the pipe (service), its queue
(task_queue), the model and its life (model_holder), language detection over a file
(detection, languages), and batches of short files (batch)."""
