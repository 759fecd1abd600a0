# Section framing shared by every probe (prepended by the collector, after the nonce line).
# `sec NAME 'command'` runs the command in the background into its own files; `emit`
# waits for all of them and prints each between boundary lines carrying the per-run nonce
# ($CISAUDIT_NONCE), so no output on the host can forge a section boundary.
umask 077
T=$(mktemp -d 2>/dev/null || echo /tmp/cisaudit.$$) && mkdir -p "$T" || exit 97
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
# sbin directories hold dockerd, runc and the like; an unprivileged login often lacks them.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
N=0
sec() { # name command: start command in the background, output to $T/NNN.name.*
  N=$((N + 1)); f="$T/$(printf %03d $N).$1"
  ( ( eval "$2" ) >"$f.out" 2>"$f.err" </dev/null; echo $? >"$f.rc" ) &
}
emit() {
  wait
  for f in "$T"/*.out; do
    [ -e "$f" ] || continue
    base=${f%.out}; name=${base##*/}; name=${name#*.}
    printf '\n%s BEGIN %s\n' "$CISAUDIT_NONCE" "$name"
    cat "$f"
    printf '\n%s STDERR %s\n' "$CISAUDIT_NONCE" "$name"
    cat "$base.err"
    printf '\n%s END %s %s\n' "$CISAUDIT_NONCE" "$name" "$(cat "$base.rc")"
  done
}
