#!/usr/bin/env bash
# Invokes a function running under `make watch` (cargo lambda watch) with a sample event, and
# answers its ResponseURL with a one-shot local listener that prints what CloudFormation would
# have received. Usage: scripts/invoke.sh FUNCTION EVENT.json
set -euo pipefail
function=${1:?usage: scripts/invoke.sh FUNCTION EVENT.json}
event=${2:?usage: scripts/invoke.sh FUNCTION EVENT.json}
work=$(mktemp -d)
trap 'kill "$sink" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work/port" "${INVOKE_RESPONSE_PORT:-9009}" > "$work/received" 2>/dev/null <<'PY' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print(body.decode(), flush=True)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
# The port `make watch` lists in STACKWRIGHT_RESPONSE_HOSTS: the functions answer no other.
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Sink)
open(sys.argv[1], "w").write(str(server.server_port))
server.handle_request()
PY
sink=$!
for _ in $(seq 1 50); do [[ -s "$work/port" ]] && break; sleep 0.1; done
python3 - "$event" "$work/event.json" "$(cat "$work/port")" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
event["ResponseURL"] = f"http://127.0.0.1:{sys.argv[3]}/cloudformation-response?X-Amz-Signature=local"
json.dump(event, open(sys.argv[2], "w"))
PY
cargo lambda invoke "$function" --data-file "$work/event.json"
echo
for _ in $(seq 1 50); do [[ -s "$work/received" ]] && break; sleep 0.1; done
echo "CloudFormation would have received:"
python3 -m json.tool < "$work/received"
