#!/bin/sh
# One page of instances: GET instances (oldest first). While more pages remain, stderr shows
# "x-ms-continuation-token: <token>"; pass it back with -c for the next page.
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='[-s runtimeStatus[,...]] [-p instanceIdPrefix] [-f createdTimeFrom] [-t top] [-c continuation-token] [-q raw-query]'
token=''
while getopts 's:p:f:t:c:q:' opt; do
  case $opt in
    s) th_param runtimeStatus "$OPTARG" ;;
    p) th_param instanceIdPrefix "$OPTARG" ;;
    f) th_param createdTimeFrom "$OPTARG" ;;
    t) th_param top "$OPTARG" ;;
    c) token=$OPTARG ;;
    q) th_raw_query "$OPTARG" ;;
    *) th_usage "$USAGE" ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 0 ]; then th_usage "$USAGE"; fi
if [ -n "$token" ]; then
  th_request GET /instances -H "x-ms-continuation-token: $token"
else
  th_request GET /instances
fi
