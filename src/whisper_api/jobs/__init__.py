"""The job domain: job records, stores, the tracker and the decoder's supervision. No Starlette."""
