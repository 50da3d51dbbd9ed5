#!/bin/sh
# Purge terminal instances and their history.
#   purge.sh <instance-id>                DELETE instances/{id}: 200 {"instancesDeleted":1} (an active one is terminated and purged); 404
#   purge.sh -f from [-t to] [-s status]  DELETE instances?createdTimeFrom=...: 200 {"instancesDeleted":N}; 404 when none
set -eu
. "$(dirname "$0")/_lib.sh"
USAGE='<instance-id> | -f createdTimeFrom [-t createdTimeTo] [-s runtimeStatus[,...]]'
from='' to='' statuses=''
while getopts 'f:t:s:' opt; do
  case $opt in
    f) from=$OPTARG ;;
    t) to=$OPTARG ;;
    s) statuses=$OPTARG ;;
    *) th_usage "$USAGE" ;;
  esac
done
shift $((OPTIND - 1))
if [ -n "$from" ]; then
  if [ $# -ne 0 ]; then th_usage "$USAGE"; fi
  th_param createdTimeFrom "$from"
  th_param createdTimeTo "$to"
  th_param runtimeStatus "$statuses"
  th_request DELETE /instances
fi
if [ $# -ne 1 ] || [ -n "$to$statuses" ]; then th_usage "$USAGE"; fi
th_request DELETE "/instances/$(th_urlencode "$1")"
