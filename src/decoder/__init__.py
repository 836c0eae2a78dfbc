"""The decoder process: the Whisper model and its life, behind multiprocessing pipes.

    wire/           what the front end may import: the pipe's messages, transcripts, the
                    model and format names, the spawn target (the one contract)
    process/        the process's insides: the service loop, its queue, the model holder,
                    language detection, batches of short files
    device/         the machine's CPUs and GPU memory, and the device and model chosen
    audio/          an upload as samples (ffmpeg), its spectrogram window by window, where it
                    is silent, where it holds speech
    engines/        openai-whisper and faster-whisper behind one interface
    speakers/       who said what
    model_import/   `whisper-api import-model`: weights converted into MODEL_DIR

It never imports the front end (whisper_api).
"""
