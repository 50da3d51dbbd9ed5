#!/bin/sh
# Start an instance's orchestration again with its original input: POST instances/{id}/restart.
# A new instance ID by default (202, the management payload); -s keeps the same ID (409 while the
# instance is still active). 404 when there is no such instance.
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='[-s] <instance-id>'
new=true
while getopts 's' opt; do
  case $opt in
    s) new=false ;;
    *) th_usage "$USAGE" ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then th_usage "$USAGE"; fi
th_param restartWithNewInstanceId "$new"
th_request POST "/instances/$(th_urlencode "$1")/restart"
