#!/usr/bin/env bash
# Crash and concurrency trials on the quickstart pipeline (issue 21): the
# figures the closing note quotes. Not part of the test command (the CLI test
# `killed_runs_leave_nothing_behind_and_concurrent_runs_compute_each_node_once`
# runs a small version of both on every test run).
#
#   scripts/crash_trials.sh [kills=20] [concurrent=3]
#
# 1. `kills` runs, each killed with SIGKILL at a random moment of a run (the
#    moments spread over a full run's duration, measured first); after each
#    kill, the temporaries left behind are counted; the next run must start
#    by removing them. After the last kill a full run completes; then no
#    temporary may remain anywhere in the workdir and `cache ls` must show
#    only verified nodes.
# 2. `concurrent` runs started together on an empty cache: none may fail,
#    and the nodes computed across them must equal the pipeline's nodes
#    (each computed once).
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
concurrent=${2:-3}
cargo build -q -p pertbench
bin=$(mktemp -d)/pertbench
cp target/debug/pertbench "$bin"
MIRROR=()
[ -d ../shared/mirror ] && MIRROR=(--mirror "$PWD/../shared/mirror")
work=$(mktemp -d)
pb() { "$bin" --workdir "$work" "${MIRROR[@]}" "$@"; }
leftovers() { find "$work" -name '.tmp-*' -prune -print | wc -l; }

start=$(date +%s.%N)
pb run pipelines/quickstart.yaml --quiet >/dev/null
full=$(echo "$(date +%s.%N) - $start" | bc)
nodes=$(pb plan pipelines/quickstart.yaml | grep -o '^[0-9]* nodes' | grep -o '[0-9]*')
echo "a full quickstart run: ${full}s, $nodes nodes"

killed=0
left_total=0
for i in $(seq 1 "$kills"); do
    # Every node goes (so each run computes from scratch), the temporaries
    # stay: the next run must remove them.
    find "$work/cache" -mindepth 2 -maxdepth 2 ! -name '.tmp-*' -exec rm -rf {} +
    # A moment between 2% and 98% of a full run.
    at=$(awk -v f="$full" -v r="$RANDOM" 'BEGIN { printf "%.2f", f * (0.02 + 0.96 * r / 32767) }')
    # The binary itself in the background (not a shell function, whose
    # subshell is what `kill` would reach).
    "$bin" --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "$at"
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
    wait "$pid" 2>/dev/null || true
    # Nothing of the run may outlive the kill.
    if pgrep -f "$bin" >/dev/null; then echo "a killed run is still running" >&2; exit 1; fi
    left=$(leftovers)
    left_total=$((left_total + left))
    echo "trial $i: killed at ${at}s, $left temporaries left"
    # The next trial's run (or the final one) removes them first.
done
out=$(pb run pipelines/quickstart.yaml --quiet)
echo "$out" | grep -E 'nodes:|removed' || true
after=$(leftovers)
corrupt=$(pb cache ls | grep -cv -E '^(ok |total)' || true)
echo "kill -9 trials: $killed killed while running, $left_total temporaries left by them in all, $after left after the next run, $corrupt cache entries not verified"

rm -rf "$work/cache" "$work/results"
pids=()
for j in $(seq 1 "$concurrent"); do
    "$bin" --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet >"$work/concurrent.$j.out" 2>&1 &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
computed=$(cat "$work"/concurrent.*.out | grep ' nodes: ' | sed -E 's/.* nodes: ([0-9]+) computed.*/\1/' | paste -sd+ | bc)
echo "concurrent runs: $concurrent started, $failed failed, $computed nodes computed across them for $nodes nodes"
rm -rf "$work" "$(dirname "$bin")"
[ "$after" -eq 0 ] && [ "$corrupt" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$computed" -eq "$nodes" ]
