#!/bin/sh
# Raise an event: POST instances/{id}/raiseEvent/{event}, the event data as a JSON body (default
# null). 202 (empty body); 404 no such instance; 410 the instance is terminal.
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='<instance-id> <event-name> [event-json | @file | @-]'
if [ $# -lt 2 ] || [ $# -gt 3 ]; then th_usage "$USAGE"; fi
th_request POST "/instances/$(th_urlencode "$1")/raiseEvent/$(th_urlencode "$2")" \
  -H 'content-type: application/json' --data-binary "${3:-null}"
