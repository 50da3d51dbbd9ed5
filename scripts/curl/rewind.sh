#!/bin/sh
# Rewind a Failed instance (re-runs what failed). 202; 404; 410 when Completed or Terminated; 412 for any other state but Failed.
# POST instances/{id}/rewind?reason=...
set -eu
. "$(dirname "$0")/_lib.sh"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then th_usage '<instance-id> [reason]'; fi
th_param reason "${2:-}"
th_request POST "/instances/$(th_urlencode "$1")/rewind"
