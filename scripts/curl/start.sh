#!/bin/sh
# Start an orchestration: POST orchestrators/{name}[/{instanceId}], the input JSON as the body.
# Prints the management payload (202), or the active instance's with -c useExisting (200), or the
# output when -w waits for the end (200). 409 when the ID or the single-instance slot is taken.
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='[-i instance-id] [-c fail|useExisting|terminateExisting] [-w seconds] <orchestrator> [input-json | @file | @-]'
id='' conflict='' wait=''
while getopts 'i:c:w:' opt; do
  case $opt in
    i) id=$OPTARG ;;
    c) conflict=$OPTARG ;;
    w) wait=$OPTARG ;;
    *) th_usage "$USAGE" ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ]; then th_usage "$USAGE"; fi
path="/orchestrators/$(th_urlencode "$1")"
if [ -n "$id" ]; then path="$path/$(th_urlencode "$id")"; fi
th_param onConflict "$conflict"
if [ -n "$wait" ]; then
  th_param timeout "$wait"
  if [ "$wait" -ge 1 ]; then th_param pollingInterval 1; else th_param pollingInterval "$wait"; fi
fi
if [ $# -eq 2 ]; then
  th_request POST "$path" -H 'content-type: application/json' --data-binary "$2"
else
  th_request POST "$path"
fi
