# Shared by the scripts in this folder (sourced, not run). POSIX sh.
#
#   TASKHUB_URL  the service (default http://127.0.0.1:7071)
#   TASKHUB_KEY  the system key; when set, sent as the x-functions-key header through a curl config
#                file (mode 600, deleted on exit), so it shows in neither `ps` nor the shell history
#
# th_request prints the answer's body on stdout (with a final newline), "HTTP <status>" and the
# Location, Retry-After and x-ms-continuation-token headers on stderr, and exits 1 on a 4xx or 5xx
# answer (after printing it), or with curl's exit code when there was no answer at all.

TASKHUB_URL=${TASKHUB_URL:-http://127.0.0.1:7071}
TH_BASE="${TASKHUB_URL%/}/runtime/webhooks/durabletask"
th_q=

th_usage() {
  printf 'usage: %s %s\n' "${0##*/}" "$1" >&2
  exit 2
}

# Percent-encodes $1 (UTF-8 bytes; A-Z a-z 0-9 - . _ ~ stay as they are) for a path segment or a
# query value. ENVIRON, not -v: awk would interpret backslashes in a -v value.
th_urlencode() {
  TH_VALUE=$1 LC_ALL=C awk 'BEGIN {
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    s = ENVIRON["TH_VALUE"]
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c ~ /^[A-Za-z0-9._~-]$/) printf "%s", c
      else printf "%%%02X", ord[c]
    }
  }'
}

# Appends name=value (the value encoded) to the query string th_q; an empty value adds nothing.
th_param() {
  if [ -n "$2" ]; then th_q="${th_q:+$th_q&}$1=$(th_urlencode "$2")"; fi
}

# Appends a raw query string (already encoded, e.g. 'showHistory=true&top=5').
th_raw_query() {
  if [ -n "$1" ]; then th_q="${th_q:+$th_q&}${1#\?}"; fi
}

# th_request METHOD PATH [curl arguments...]: PATH is relative to the webhook base path; th_q is
# appended as the query string.
th_request() {
  th_method=$1
  th_url="$TH_BASE$2${th_q:+?$th_q}"
  shift 2
  th_tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskhub-curl.XXXXXX") || exit 1
  trap 'rm -rf "$th_tmp"' EXIT
  trap 'rm -rf "$th_tmp"; exit 130' INT TERM
  (umask 077 && : >"$th_tmp/config")
  if [ -n "${TASKHUB_KEY:-}" ]; then
    th_key=$(printf '%s' "$TASKHUB_KEY" | sed 's/[\\"]/\\&/g')
    printf 'header = "x-functions-key: %s"\n' "$th_key" >"$th_tmp/config"
  fi
  th_status=$(curl -sS -X "$th_method" -K "$th_tmp/config" -D "$th_tmp/headers" -o "$th_tmp/body" -w '%{http_code}' "$@" "$th_url") || exit $?
  if [ -s "$th_tmp/body" ]; then
    cat "$th_tmp/body"
    echo
  fi
  printf 'HTTP %s\n' "$th_status" >&2
  tr -d '\r' <"$th_tmp/headers" | grep -i '^\(location\|retry-after\|x-ms-continuation-token\):' >&2 || :
  case $th_status in
    [45]??) exit 1 ;;
  esac
  exit 0
}
