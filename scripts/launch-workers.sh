#!/usr/bin/env bash
# Starts one async-train worker per line of a host file, over ssh, connected to a driver.
#
#   scripts/launch-workers.sh HOSTFILE tcp://DRIVER_HOST:PORT TOKEN_FILE [REMOTE_EXE [DATA...]]
#
# HOSTFILE: one host per line (blank lines and `#` comments skipped); a host listed twice
# runs two workers. TOKEN_FILE must exist at the same path on every host (copy it first, e.g.
# with scp). REMOTE_EXE defaults to `async-train` on the remote PATH. Each DATA (a file, or a
# folder of files) is given to every worker as `--data DATA`: with `--data-access shared`, a
# worker reads only the files it was given so. Set SSH to use another command than `ssh` (it
# is called as `$SSH HOST COMMAND`). Set WORKER_FLAGS to add flags to every worker's command,
# e.g. WORKER_FLAGS='--require-encrypt --reconnect 600'. Waits for every worker to end;
# exits non-zero if any failed.
set -euo pipefail

if [ $# -lt 3 ]; then
  # The usage is the comment block under the shebang, up to its first line of code.
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p;}' "$0"
  exit 2
fi
# A word as a remote shell reads it back, whatever it holds: in single quotes, each of its
# own single quotes as '\''.
quote() {
  local quoted=${1//\'/\'\\\'\'}
  printf "'%s'" "$quoted"
}
hostfile=$1 driver=$2 token=$3 exe=${4:-async-train}
shift $(($# < 4 ? $# : 4))
data=""
for path in "$@"; do
  data="$data --data $(quote "$path")"
done
ssh_cmd=${SSH:-ssh}
[ -r "$hostfile" ] || { echo "cannot read host file $hostfile" >&2; exit 2; }

pids=()
i=0
while read -r host _; do
  case "$host" in ''|'#'*) continue ;; esac
  name="$host-$i"
  command="$(quote "$exe") worker --driver $(quote "$driver") --token-file $(quote "$token")"
  command="$command --name $(quote "$name")$data${WORKER_FLAGS:+ $WORKER_FLAGS}"
  echo "starting worker $name on $host: $command" >&2
  $ssh_cmd "$host" "$command" &
  pids+=($!)
  i=$((i + 1))
done < "$hostfile"

[ ${#pids[@]} -gt 0 ] || { echo "no hosts in $hostfile" >&2; exit 2; }
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=$((failed + 1))
done
[ $failed -eq 0 ] || { echo "$failed worker(s) failed" >&2; exit 1; }
