#!/usr/bin/env bash
# healthcheck.sh - the image's HEALTHCHECK: GET /livez.
#
# Through nginx on 127.0.0.1:$SERVER_PORT where it runs (the self-contained
# stack, the nginx container); else straight to the workers over FastCGI on
# $LOOPGATE_SOCKET (a `serve` container has no HTTP listener). Exit 0 when
# /livez answers 200.
set -uo pipefail
port=${SERVER_PORT:-8080}
sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}

if curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/livez" 2>/dev/null; then
    exit 0
fi
# No HTTP listener (or it failed): ask the workers themselves.
out=$(env -i REQUEST_METHOD=GET SCRIPT_NAME=/livez DOCUMENT_URI=/livez REQUEST_URI=/livez \
          SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
          timeout 4 cgi-fcgi -bind -connect "$sock" 2>/dev/null) || exit 1
# A response without a Status header is a 200.
status=$(sed -n 's/^Status: *\([0-9][0-9][0-9]\).*/\1/p' <<<"${out%%$'\r\n\r\n'*}" | head -n 1)
[[ -n $out && ${status:-200} == 200 ]]
