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
# e.g. WORKER_FLAGS='--require-encrypt --reconnect 600'. Ctrl-C (SIGINT) or SIGTERM stops
# the workers it started, over ssh, by the pid each remote shell says first (the first line
# of a worker's output), and exits 130 or 143; a second signal gives up waiting for that.
# Waits for every worker to end; exits non-zero if any failed.
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

# Each remote shell says its pid, then becomes the worker: ssh without a terminal leaves a
# remote command running when its client goes, so a signal here stops the workers by those
# pids, over ssh. started/I holds worker I's.
started=$(mktemp -d)
trap 'rm -rf "$started"' EXIT

# Passes a worker's output on, its first line (the remote pid) kept in FILE instead.
note_pid() {
  local pid
  if IFS= read -r pid; then
    printf '%s\n' "$pid" > "$1"
  fi
  cat
}

# Worker I's remote pid, once its shell said it (ssh may still be connecting); nothing when
# its ssh ended, as its pid may be another process's by now, or when the line is no pid.
remote_pid() {
  local tries=50 pid
  while [ ! -s "$started/$1" ] && [ $tries -gt 0 ] && kill -0 "${pids[$1]}" 2>/dev/null; do
    sleep 0.1
    tries=$((tries - 1))
  done
  kill -0 "${pids[$1]}" 2>/dev/null || return 0
  pid=$(cat "$started/$1" 2>/dev/null || true)
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  echo "$pid"
}

# Stops every worker still running, then exits with CODE.
stop_workers() {
  local code=$1 i pid kills=()
  trap - INT TERM
  echo "stopping the workers on their hosts" >&2
  for i in "${!pids[@]}"; do
    pid=$(remote_pid "$i")
    [ -n "$pid" ] || continue
    $ssh_cmd "${hosts[$i]}" "kill -TERM $pid" < /dev/null &
    kills+=($!)
  done
  for pid in "${kills[@]}"; do
    wait "$pid" || true
  done
  # The clients left, those of workers whose pid never came among them.
  kill "${pids[@]}" 2>/dev/null || true
  exit "$code"
}
trap 'stop_workers 130' INT
trap 'stop_workers 143' TERM

pids=()
hosts=()
i=0
while read -r host _; do
  case "$host" in ''|'#'*) continue ;; esac
  name="$host-$i"
  command="$(quote "$exe") worker --driver $(quote "$driver") --token-file $(quote "$token")"
  command="$command --name $(quote "$name")$data${WORKER_FLAGS:+ $WORKER_FLAGS}"
  echo "starting worker $name on $host: $command" >&2
  $ssh_cmd "$host" "echo \$\$; exec $command" < /dev/null > >(note_pid "$started/$i") &
  pids+=($!)
  hosts+=("$host")
  i=$((i + 1))
done < "$hostfile"

[ ${#pids[@]} -gt 0 ] || { echo "no hosts in $hostfile" >&2; exit 2; }
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=$((failed + 1))
done
[ $failed -eq 0 ] || { echo "$failed worker(s) failed" >&2; exit 1; }
