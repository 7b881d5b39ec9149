# Sourced by the samples' run.sh scripts, which set $trtops (the trtops command) and $out (the
# output folder) first.

# trtops_info_says PYTHON_EXPRESSION: succeeds when the expression, over `info` (the JSON of
# `trtops info --json`), is true.
trtops_info_says() {
  python3 - "$trtops" "$1" <<'PY'
import json, subprocess, sys
info = json.loads(subprocess.run([sys.argv[1], "info", "--json"], capture_output=True, text=True, check=True).stdout)
sys.exit(0 if eval(sys.argv[2], {"info": info}) else 1)
PY
}

# build_engine NAME [BUILD FLAGS...]: builds $out/NAME.engine from $out/NAME.onnx when the trtops
# plugin library was built, and sets engine_args for `trtops check`; otherwise says why not (the
# check then evaluates the graph on CPU).
build_engine() {
  local name=$1
  shift
  engine_args=()
  if trtops_info_says '(info.get("build") or {}).get("plugins_built")'; then
    "$trtops" build "$out/$name.onnx" -o "$out/$name.engine" --timing-cache "$out/timing.cache" "$@"
    engine_args=(--engine "$out/$name.engine")
  else
    echo "engine build skipped: the trtops plugin library was not built (see 'trtops info')"
  fi
}
