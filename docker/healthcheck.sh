#!/usr/bin/env bash
# healthcheck.sh - the image's HEALTHCHECK: GET /livez.
#
# Where this container runs nginx (the self-contained stack, the nginx
# container: their nginx pid file is there), through it on
# 127.0.0.1:$SERVER_PORT; else (a `serve` container has no HTTP listener)
# straight to the workers over FastCGI on $LOOPGATE_SOCKET. Exit 0 when
# /livez answers 200.
set -uo pipefail
port=${SERVER_PORT:-8080}
sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}

if [[ -s ${LOOPGATE_VAR:-/var/lib/loopgate}/run/nginx.pid || -s ${LOOPGATE_NGINX_VAR:-/tmp/loopgate-nginx}/run/nginx.pid ]]; then
    exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/livez"
fi
out=$(env -i REQUEST_METHOD=GET SCRIPT_NAME=/livez DOCUMENT_URI=/livez REQUEST_URI=/livez \
          SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
          timeout 4 cgi-fcgi -bind -connect "$sock" 2>/dev/null) || exit 1
# A response without a Status header is a 200.
status=$(sed -n 's/^Status: *\([0-9][0-9][0-9]\).*/\1/p' <<<"${out%%$'\r\n\r\n'*}" | head -n 1)
[[ -n $out && ${status:-200} == 200 ]]
