"""The machine the decoder runs on: its CPUs and free GPU memory (machine), and the device and
model chosen from them (ladder). The engines probe and free the device; the model holder
climbs down the ladder."""
