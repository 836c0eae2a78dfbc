"""What the front end may import of the decoder (an import contract says so): the messages of
the pipe (protocol), a transcript (transcript), the names of models, engines and formats
(models, choices, containers, speaker_files), and the process's spawn target (entry). None of
it loads numpy, torch or a model library."""
