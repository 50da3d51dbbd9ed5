#!/bin/sh
# Terminate an instance (its output becomes the reason). 202; 404; 410 when already terminal.
# POST instances/{id}/terminate?reason=...
set -eu
. "$(dirname "$0")/_lib.sh"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then th_usage '<instance-id> [reason]'; fi
th_param reason "${2:-}"
th_request POST "/instances/$(th_urlencode "$1")/terminate"
