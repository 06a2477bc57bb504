#!/usr/bin/env bash
# Measures the userspace VXLAN datapath step by step against kernel VXLAN, side by side in one run, on a two-host
# namespace testbed (hosts joined by a veth underlay, one pod namespace per host, pods at MTU 1450):
#   kernel      both hosts: kernel flannel.1 as upstream flanneld configures it
#   per-packet  userspace, one packet per native call, no offloads (batch=1)
#   batched     userspace, up to 16 packets per call (TUN reads, recvmmsg/sendmmsg), no offloads
#   tso-gso     + TUN vnet_hdr TSO reads segmented in JS, sent with UDP GSO
#   pipeline    + UDP GRO receive coalesced into TSO writes to the TUN; one thread per direction, one TUN queue
#   gro         the same with the default loops: one per TUN queue (multi-queue TUN), each both directions, and the
#               default send path (tunnel-gso where the kernel has it: whole VXLAN frames into a TAP, kernel segments)
#   segment     gro with the send path forced to 'segment' (TSO frames cut in the addon, sent with UDP GSO)
#   gro-cold    gro without the JIT warm-up of the loop threads (TSFLANNELD_DATAPATH_WARMUP=0)
#   gctrace     gro under node --trace-gc (every isolate's collections, the loops' included, in the node's log); after
#               the row, stderr gets each node's collections after it was ready, per isolate
#   gctrace-before  the same for the BEFORE_ROOT build (old vs new collections in one run)
#   before      gro from another build tree, BEFORE_ROOT (its dist/ and a build/ link): old vs new in one run
#   one-thread  the same with one loop and one queue (loops=1)
#   nice / fifo the default with loop threads at nice -10 / SCHED_FIFO priority 10 (fifo: no spin, see defaultSpinMicros)
#   pinC        the default with both userspace nodes under `taskset -c C` (e.g. pin0; USERSPACE_PIN for every mode)
#   spinN       the default, polling (yielding) without sleeping for N µs after traffic (spinN-one-thread: loops=1)
#   mixed       host A userspace (default; MIXED_EXTRA: more NodeSpec JSON such as ',"spinMicros":0', MIXED_ENV: its
#               environment), host B kernel
# Prints one markdown row per mode: TCP A→B, TCP B→A (iperf3 -t $SECS), ping RTT avg, min, p50 and p99 (PING_COUNT,
# default 200, pings 10 ms apart).
# PING_HIST=1 adds a histogram of the RTTs (ms buckets); PING_ONLY=1 skips iperf3; MODES='gro one-thread' picks
# userspace modes; USERSPACE_PIN=0 / PING_PIN=0 run the userspace nodes / ping under `taskset -c <cpus>`; KEEP_LOGS=1
# keeps each userspace node's output (removed otherwise); NODE_FLAGS adds node/V8 flags to every userspace node (e.g.
# '--trace-deopt'); PING_TRACE=/tmp/t records a scheduler + syscall trace
# of each mode's pings to /tmp/t.<mode> (`perf script -F comm,tid,cpu,time,event,trace -i FILE | node
# dist/bench/ping-timeline-main.js` splits a ping's round trip into its hops; the trace slows each hop by a few µs).
# Usage: bench/datapath-steps.sh [SECS] [REPS]   (root; needs iperf3; builds with `npx tsc -p .` first)
set -euo pipefail
SECS=${1:-5}
REPS=${2:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The node program lives in test/support/agents/ since w-tests; an older checkout (BEFORE_ROOT) has it in e2e/support/.
agent_js() { local f=$1/dist/test/support/agents/userspace-vxlan-node.js; [ -f "$f" ] || f=$1/dist/test/e2e/support/userspace-vxlan-node.js; echo "$f"; }
NODE_JS=$(agent_js "$ROOT")
TAG=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
HA=bdha$TAG HB=bdhb$TAG CA=bdca$TAG CB=bdcb$TAG
PIDS=()
LOGS=()
MODE_ENV=
MODE_NODE_FLAGS=
MODE_PIN=

cleanup() {
  # Each userspace node's output; KEEP_LOGS=1 keeps them (and prints where), e.g. for the gctrace mode.
  if [ -n "${KEEP_LOGS:-}" ]; then printf 'node log: %s\n' "${LOGS[@]:-}" >&2; else rm -f "${LOGS[@]:-}"; fi
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill "$c" 2>/dev/null || true; done
    kill "$p" 2>/dev/null || true
  done
  for n in $CA $CB $HA $HB; do
    for p in $(ip netns pids $n 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del $n 2>/dev/null || true
  done
}
trap cleanup EXIT

for n in $HA $HB $CA $CB; do ip netns add $n; ip -n $n link set lo up; done
ip link add bdu$TAG netns $HA type veth peer name bdu$TAG netns $HB
for h in A B; do
  eval ns=\$H$h; eval pod=\$C$h
  i=$([ $h = A ] && echo 1 || echo 2)
  ip -n $ns link set bdu$TAG name eth0
  ip -n $ns addr add 192.0.2.$i/24 dev eth0; ip -n $ns link set eth0 up
  ip link add bdp$TAG netns $ns type veth peer name eth0 netns $pod
  ip -n $ns addr add 10.244.$i.1/24 dev bdp$TAG; ip -n $ns link set bdp$TAG up
  ip -n $pod addr add 10.244.$i.2/24 dev eth0; ip -n $pod link set eth0 mtu 1450 up
  ip -n $pod route add default via 10.244.$i.1
  ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1
done

kernel_up() { # ns self_i peer_i
  local ns=$1 s=$2 p=$3
  ip -n $ns link add flannel.1 type vxlan id 1 local 192.0.2.$s dev eth0 dstport 8472 nolearning
  ip -n $ns link set flannel.1 address 02:bd:00:00:00:0$s mtu 1450 up
  ip -n $ns addr add 10.244.$s.0/32 dev flannel.1
  ip -n $ns neigh replace 10.244.$p.0 lladdr 02:bd:00:00:00:0$p dev flannel.1 nud permanent
  bridge -n $ns fdb append 02:bd:00:00:00:0$p dev flannel.1 dst 192.0.2.$p self permanent
  ip -n $ns route replace 10.244.$p.0/24 via 10.244.$p.0 dev flannel.1 onlink
}

userspace_up() { # ns self_i peer_i extra-json
  local ns=$1 s=$2 p=$3 extra=$4
  local spec="{\"device\":\"flannel.1\",\"vni\":1,\"port\":8472,\"mac\":\"02:bd:00:00:00:0$s\",\"localIP\":\"192.0.2.$s\",\"network\":\"10.244.0.0/16\",\"subnetLen\":24,\"ownSubnet\":\"10.244.$s.0/24\",\"mtu\":1450,\"peers\":[{\"subnet\":\"10.244.$p.0/24\",\"publicIP\":\"192.0.2.$p\",\"mac\":\"02:bd:00:00:00:0$p\"}]$extra}"
  local out; out=$(mktemp /tmp/datapath-steps-$ns-XXXX.log)
  LOGS+=("$out")
  local pin=${MODE_PIN:-${USERSPACE_PIN:-}}
  local PIN=${pin:+taskset -c $pin}
  # The feeding `sleep` keeps the node's stdin open; its own stdout must not hold the script's (a pipe to `tail`).
  (sleep 100000 | ip netns exec $ns env $MODE_ENV $PIN node $MODE_NODE_FLAGS ${NODE_FLAGS:-} "${MODE_NODE_JS:-$NODE_JS}" \
    "$spec" > "$out" 2>&1) >/dev/null 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.05; done
  [ -z "${SHOW_SEND_PATH:-}" ] || echo "$ns: $(grep -m1 send-path "$out")" >&2
}

gc_summary() { # label: each userspace node's collections after its `ready` line, per isolate, as kind@ms (the
  # isolate's own clock: a loop isolate's first second is its JIT warm-up, which runs after `ready`)
  local log
  for log in "${LOGS[@]: -2}"; do
    awk -v label="$1" -v file="$(basename "$log")" '
      /ready/ { on = 1; next }
      on && /^\[[0-9]+:0x[0-9a-f]+\] +[0-9]+ ms: (Scavenge|Mark-Compact|Mark-sweep|Minor)/ {
        split($1, id, ":"); iso = id[2]; sub(/\]$/, "", iso)
        kind = $4; if (kind == "Scavenge") kind = "S"; else if (kind == "Mark-Compact") kind = "MC"
        if (!(iso in seen)) { seen[iso] = 1; order[++k] = iso }
        list[iso] = list[iso] " " kind "@" $2 }
      END { printf "%s %s: collections after ready:", label, file; if (k == 0) printf " none"
        for (i = 1; i <= k; i++) printf "\n  %s:%s", order[i], list[order[i]]; printf "\n" }
    ' "$log" >&2
  done
}

down_all() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill "$c" 2>/dev/null || true; done
  done
  for ns in $HA $HB; do
    for p in $(ip netns pids $ns 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip -n $ns link del flannel.1 2>/dev/null || true
  done
  PIDS=()
  sleep 0.3
}

iperf_gbps() { # extra-args
  ip netns exec $CB iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.3
  timeout $((SECS + 15)) ip netns exec $CA iperf3 -c 10.244.2.2 -p 5201 -t "$SECS" -O 1 -J "$@" 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log((j.end.sum_received.bits_per_second/1e9).toFixed(2))}catch{console.log("fail")}})'
}

ping_ms() { # prints "avg (min …, p50 …, p99 …)" over PING_COUNT pings 10 ms apart
  ip netns exec $CA ${PING_PIN:+taskset -c $PING_PIN} ping -n -c "${PING_COUNT:-200}" -i 0.01 10.244.2.2 \
    | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n \
    | awk '{v[NR]=$1; s+=$1} END {if (NR==0) {print "fail"; exit} i=int(NR*0.99+0.5); if (i<1) i=1; if (i>NR) i=NR;
        m=int(NR*0.5+0.5); if (m<1) m=1; printf "%.3f (min %.3f, p50 %.3f, p99 %.3f)", s/NR, v[1], v[m], v[i]
        if (ENVIRON["PING_HIST"] != "") { n=split("0.2 0.5 1 2 3.5 5 10", e, " "); printf " hist"; k=1;
          for (b=1; b<=n; b++) { c=0; while (k<=NR && v[k]<e[b]) {c++; k++}; printf " <%s:%d", e[b], c }
          printf " >=%s:%d", e[n], NR-k+1 }
        printf "\n"}'
}

measure() { # label
  local ab ba rtt
  ip netns exec $CA ping -n -q -c 3 -i 0.1 10.244.2.2 >/dev/null || { echo "| $1 | no connectivity | | |"; return; }
  if [ -n "${PING_ONLY:-}" ]; then ab=-; ba=-; else ab=$(iperf_gbps); ba=$(iperf_gbps -R); fi
  local perf_pid=
  if [ -n "${PING_TRACE:-}" ]; then # a scheduler + syscall trace of the pings, for bench/ping-timeline.ts
    # Only the syscalls the timeline reads (sendto, write; poll returning ready, read, recvmmsg, recvmsg): the
    # spins' polls and yields would multiply the trace's own cost. Not perf's own writes.
    local enter='id == 44 || id == 46 || id == 1'
    local exit='(id == 7 && ret > 0) || id == 0 || id == 299 || id == 45 || id == 47'
    perf record -q -a -o "$PING_TRACE.$(echo "$1" | tr -c 'a-z0-9\n' '-')" -e sched:sched_waking -e sched:sched_switch \
      -e raw_syscalls:sys_enter --filter "$enter" --exclude-perf -e raw_syscalls:sys_exit --filter "$exit" \
      --exclude-perf >/dev/null 2>&1 &
    perf_pid=$!; sleep 1
  fi
  rtt=$(ping_ms)
  [ -z "$perf_pid" ] || { kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; }
  echo "| $1 | $ab | $ba | $rtt |"
}

echo "| mode | TCP A→B Gbit/s | TCP B→A Gbit/s | ping avg (min, p50, p99) ms |"
echo "|---|---|---|---|"
for rep in $(seq "$REPS"); do
  kernel_up $HA 1 2; kernel_up $HB 2 1; measure kernel; down_all
  for mode in ${MODES:-per-packet batched tso-gso pipeline gro one-thread}; do
    MODE_ENV= MODE_NODE_JS= MODE_NODE_FLAGS= MODE_PIN=
    case $mode in
      before) extra=''; MODE_NODE_JS=$(agent_js "$BEFORE_ROOT") ;;
      gro-cold) extra=''; MODE_ENV=TSFLANNELD_DATAPATH_WARMUP=0 ;;
      per-packet) extra=',"batch":1,"offloads":false,"gro":false,"loops":"pipeline"' ;;
      batched) extra=',"offloads":false,"gro":false,"loops":"pipeline"' ;;
      tso-gso) extra=',"gro":false,"loops":"pipeline"' ;;
      gro) extra='' ;;
      gctrace) extra=''; MODE_NODE_FLAGS=--trace-gc ;;
      gctrace-before) extra=''; MODE_NODE_FLAGS=--trace-gc; MODE_NODE_JS=$(agent_js "$BEFORE_ROOT") ;;
      segment) extra=',"sendPath":"segment"' ;;
      pipeline) extra=',"loops":"pipeline"' ;;
      one-thread) extra=',"loops":1' ;;
      nice) extra=',"scheduling":{"nice":-10}' ;;
      fifo) extra=',"scheduling":{"fifoPriority":10}' ;;
      pin*) extra=''; MODE_PIN=${mode#pin} ;;
      spin*-one-thread) n=${mode#spin}; extra=",\"spinMicros\":${n%-one-thread},\"loops\":1" ;;
      spin*) extra=",\"spinMicros\":${mode#spin}" ;;
    esac
    userspace_up $HA 1 2 "$extra"; userspace_up $HB 2 1 "$extra"; measure "userspace $mode"
    case $mode in gctrace*) gc_summary "$mode" ;; esac
    down_all
  done
  MODE_ENV=${MIXED_ENV:-} MODE_NODE_JS= MODE_NODE_FLAGS=
  userspace_up $HA 1 2 "${MIXED_EXTRA:-}"; kernel_up $HB 2 1; measure "mixed (A userspace${MIXED_EXTRA:+ $MIXED_EXTRA}${MIXED_ENV:+ $MIXED_ENV}, B kernel)"; down_all
done
