#!/bin/sh
# The status of an instance: GET instances/{id}. 200 when terminal, 202 while active, 404 (empty
# body) when there is no such instance. -H adds the history with results.
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='[-H] [-q raw-query] <instance-id>'
while getopts 'Hq:' opt; do
  case $opt in
    H) th_raw_query 'showHistory=true&showHistoryOutput=true' ;;
    q) th_raw_query "$OPTARG" ;;
    *) th_usage "$USAGE" ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then th_usage "$USAGE"; fi
th_request GET "/instances/$(th_urlencode "$1")"
