#!/usr/bin/env bash
# The libFuzzer harnesses build (make fuzz, with clang) and run for a few
# seconds each from small real seeds without finding a crash: every parser
# that reads untrusted bytes (GGUF, llama2.c checkpoints, tokenizer files,
# llmfs.yaml, front matter, Ollama manifests, benchmark scenarios and run CSVs, response cache records, a remote
# server's event stream and JSON, URLs) is fuzzed on every
# test run.  Longer campaigns:
# build-fuzz/fuzz_gguf -max_total_time=600 DIR.
set -u
cd "$(dirname "$0")/.."
S=${LLMFS_SHARED:-../shared}
SECONDS_EACH=${FUZZ_SECONDS:-3}
if ! command -v clang >/dev/null; then echo "not ok - clang is installed (.ci/run installs it)"; exit 1; fi
if ! out=$(make -s -j"$(nproc)" fuzz 2>&1); then
    echo "not ok - make fuzz builds the harnesses"; printf '%s\n' "$out" | head -20 | sed 's/^/#   /'; exit 1
fi
echo "ok - make fuzz builds the harnesses"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
seed() {   # seed NAME: a directory of seeds for that harness
    local d=$tmp/seed-$1; mkdir -p "$d"
    case $1 in
    gguf) head -c 8192 "$S/models/stories260K.gguf" > "$d/a"; head -c 4096 "$S/models/llamacpp/tiny-q4_k.gguf" > "$d/b"
          # whole small models of every architecture, so that mutations reach their loading
          for a in llama3 qwen2 qwen3 phi3 gemma2 gemma3; do
              "${BIN:-bin}/llmfs-mkmodel" -o "$d/$a" --arch "$a" --dim 32 --hidden 32 --layers 1 \
                  --heads 2 --vocab 300 --ctx 16 --type f32 >/dev/null 2>&1
          done
          # and of the block formats llmfs-mkmodel writes
          for t in bf16 q4_1 q5_0 q5_1 q3_k q5_k q6_k q4_k_m; do
              "${BIN:-bin}/llmfs-mkmodel" -o "$d/$t" --dim 256 --hidden 256 --layers 1 \
                  --heads 2 --vocab 300 --ctx 16 --type "$t" >/dev/null 2>&1
          done ;;
    llama2c) head -c 4096 "$S/models/stories260K.bin" > "$d/a" ;;
    manifest) printf '{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:%s"},{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":1}]}' \
                  "$(printf a | sha256sum | cut -c1-64)" "$(printf b | sha256sum | cut -c1-64)" > "$d/a" ;;
    tokenizer) head -c 4096 "$S/models/tok512.bin" > "$d/a" ;;
    config) printf 'threads: 2\ngeneration: {max_tokens: 64, temperature: 0.7}\nscheduler:\n  queue: 8\n' > "$d/a"
            printf 'backend:\n  - {url: "http://h:8000", model: m, kind: vllm, timeout_ms: 5}\nremote: {retries: 1}\n' > "$d/b" ;;
    remote) printf 'data: {"choices":[{"text":"caf\\u00e9","finish_reason":null}]}\r\n\r\ndata: [DONE]\n\n' > "$d/a"
            printf 'redis://:pw@[::1]:6379/2' > "$d/b" ;;
    scenario) printf 'name: s\nprompts: {text: hi, repeat: 0.5}\nstages:\n  - {kind: ramp, duration_s: 2, rate: 1, rate_to: 5}\n  - {kind: steady, duration_s: 1, concurrency: 2}\nsla: {ttft_p95_ms: 800}\n' > "$d/a" ;;
    runcsv) printf 'request_id,stage,scheduled_ms,start_ms,ttft_ms,e2e_ms,prompt_tokens,generated_tokens,cache,status\n0,1,0.1,0.2,1.5,9.0,5,8,miss,ok\n1,1,5.0,5.1,"2.5",12.0,5,8,,ok\n2,2,9,9,-1,-1,-1,-1,,error\n' > "$d/a" ;;
    frontmatter) printf -- '---\nmax_tokens: 16\nstop: ["\\n"]\npriority: high\n---\nOnce upon a time\n' > "$d/a" ;;
    record) printf 'LLMFSRC\0' > "$d/a"   # and a valid payload: finish 1, one token, text "a"
            { printf '\001\000\000\000\001\000\000\000'; head -c 24 /dev/zero
              printf '\001\000\000\000\000\000\000\000\001\000\000\000a'; } > "$d/b" ;;
    esac
    echo "$d"
}
for f in build-fuzz/fuzz_*; do
    name=${f#build-fuzz/fuzz_}
    dir=$(seed "$name")
    if (cd "$tmp" && "$OLDPWD/$f" -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 \
            -artifact_prefix="$OLDPWD/build-fuzz/crash-$name-" "$dir" > "$tmp/log-$name" 2>&1); then
        echo "ok - fuzz_$name: $(grep -o 'Done [0-9]* runs' "$tmp/log-$name" | head -1) without a crash"
    else
        echo "not ok - fuzz_$name found a problem"; tail -20 "$tmp/log-$name" | sed 's/^/#   /'
        ls build-fuzz/crash-"$name"-* 2>/dev/null | sed 's/^/#   reproducer (kept): /'
    fi
done
