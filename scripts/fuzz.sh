#!/usr/bin/env bash
# The fuzz targets in fuzz/ (fuzz/README.md), one at a time, with nightly and cargo-fuzz
# (installed here when missing: rust-toolchain.toml pins the stable toolchain, so every call
# names `+nightly`).
#
#   scripts/fuzz.sh run [TARGET…]    each target for FUZZ_SECONDS (60), growing its working corpus
#                                    in fuzz/target/corpus/<target> from the stored fuzz/corpus/<target>
#   scripts/fuzz.sh ci               CI's short run: each target for FUZZ_CI_SECONDS (10), starting
#                                    from the stored corpus, which it does not change
#   scripts/fuzz.sh minimise [TARGET…]  merge the working corpus into the stored one, minimised
#
# Built without a sanitizer (`-s none`): the workspace forbids unsafe code, so AddressSanitizer
# would watch only the dependencies' unsafe code, at twice the build and run time; the
# targets are built with debug assertions and overflow checks (cargo-fuzz's release build), and
# libFuzzer's coverage guidance is the same.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

fuzz() { nice -n "${FUZZ_NICE:-10}" cargo +nightly fuzz "$@"; }
mode=${1:-run}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# libFuzzer's last lines: "Done N runs in S second(s)" and, on a crash, the input it wrote.
summary() { grep -E '^Done [0-9]+ runs' "$1" | tail -1 || true; }

started=$(date +%s)
fuzz build -s none
echo "fuzz: built in $(( $(date +%s) - started )) s"
case "$mode" in
run|ci)
    if [[ $mode == ci ]]; then seconds=${FUZZ_CI_SECONDS:-10}; else seconds=${FUZZ_SECONDS:-60}; fi
    log=$(mktemp -d)
    trap 'rm -rf "$log"' EXIT
    for target in "${targets[@]}"; do
        if [[ $mode == ci ]]; then
            work="$log/corpus-$target"   # thrown away: CI leaves the repository as it was
        else
            work="fuzz/target/corpus/$target"
        fi
        mkdir -p "$work" "fuzz/corpus/$target"
        if ! fuzz run -s none "$target" "$work" "fuzz/corpus/$target" -- \
            -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            >"$log/$target.log" 2>&1; then
            grep -A2 -m1 'panicked at' "$log/$target.log" >&2 || tail -40 "$log/$target.log" >&2
            echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
            exit 1
        fi
        echo "fuzz: $target: $(summary "$log/$target.log")"
    done
    ;;
minimise)
    for target in "${targets[@]}"; do
        [[ -d "fuzz/target/corpus/$target" ]] || continue
        merged="fuzz/target/merged-$target"
        rm -rf "$merged" && mkdir -p "$merged"
        fuzz run -s none "$target" "$merged" "fuzz/corpus/$target" "fuzz/target/corpus/$target" -- \
            -merge=1 -timeout=10 >/dev/null 2>&1
        rm -rf "fuzz/corpus/$target" && mv "$merged" "fuzz/corpus/$target"
        echo "fuzz: $target: $(ls "fuzz/corpus/$target" | wc -l) inputs, $(du -sh "fuzz/corpus/$target" | cut -f1)"
    done
    ;;
*)
    echo "usage: scripts/fuzz.sh run|ci|minimise [TARGET…]" >&2
    exit 2
    ;;
esac
echo "fuzz: $mode passed in $(( $(date +%s) - started )) s"
