"""gunicorn settings, read from the same environment as Django's.

gthread workers: a dashboard request spends most of its time waiting on Spotify,
so each worker serves WEB_THREADS requests at once. WEB_CONCURRENCY workers per
dyno (Heroku sets it by dyno size; the README explains the connection budget).
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# The dashboard answers within its 12 s deadline; 30 s is Heroku's router limit.
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The path without its query string: /callback?code=... must not reach the logs.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The router speaks plain HTTP to the dyno and says the protocol in a header.
forwarded_allow_ips = "*"
# gunicorn 27 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (or
# ~/.gunicorn/gunicorn.ctl) by default: one path for every gunicorn of the user,
# so parallel stacks on one host would share it. Nothing here uses gunicornc.
control_socket_disable = True
