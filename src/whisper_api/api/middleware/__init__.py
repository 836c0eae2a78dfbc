"""What every HTTP request passes through before its route: who asks and whether they may
(auth), the request counter for /metrics (metrics), and `Connection: close` on an answer
given before the body was read (keepalive)."""
