#!/bin/sh
# Suspend a Pending or Running instance. 202; 404; 409 already Suspended; 410 terminal.
# POST instances/{id}/suspend?reason=...
set -eu
. "$(dirname "$0")/_lib.sh"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then th_usage '<instance-id> [reason]'; fi
th_param reason "${2:-}"
th_request POST "/instances/$(th_urlencode "$1")/suspend"
