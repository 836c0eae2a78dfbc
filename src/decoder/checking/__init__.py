"""The upload checker: a long-lived process that reads each upload with ffmpeg's libraries
(PyAV) before it is queued, so that the front end never parses untrusted media itself.

    probe.py    the check: the container, the streams, the duration, and a decode of the start
                and the end; every refusal as a sentence for the client
    service.py  the process's loop: CheckUpload in, UploadChecked / UploadRefused /
                CheckFailed out (decoder.wire.protocol)
"""
