# Makes llama.cpp available to the GGUF tests: npm's node-llama-cpp, pinned, whose prebuilt CPU
# binaries load and run a GGUF file without compiling anything. Installs it with npm into a
# cache directory outside the repository (VQ_LLAMACPP_DIR, default ~/.cache/vq4j/node-llama-cpp)
# when it is not there; if that is impossible (no node/npm, no network), says so and the
# llama.cpp tests skip themselves (unless VQ_REQUIRE_LLAMACPP=1, as in CI).
VQ_LLAMACPP_VERSION=3.21.1
vq_ensure_llamacpp() {
  export VQ_LLAMACPP_DIR="${VQ_LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vq4j/node-llama-cpp}"
  local pkg="$VQ_LLAMACPP_DIR/node_modules/node-llama-cpp/package.json"
  if [ -f "$pkg" ] && grep -q "\"version\": \"$VQ_LLAMACPP_VERSION\"" "$pkg"; then
    return 0
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "scripts: no node/npm; the llama.cpp (node-llama-cpp) tests will skip" >&2
    return 1
  fi
  # node-llama-cpp lists every platform's binaries (CUDA and Vulkan ones are hundreds of MB) as
  # optional dependencies: on Linux take only the CPU binaries of this machine
  local platform extra=()
  platform=$(node -p 'process.platform + "-" + process.arch')
  case "$platform" in
    linux-x64|linux-arm64) extra=(--omit=optional "@node-llama-cpp/$platform@$VQ_LLAMACPP_VERSION") ;;
  esac
  echo "scripts: installing node-llama-cpp $VQ_LLAMACPP_VERSION into $VQ_LLAMACPP_DIR" >&2
  mkdir -p "$VQ_LLAMACPP_DIR"
  # no install scripts: the prebuilt binaries need none (the package's postinstall would only
  # offer to build llama.cpp from source when they are missing)
  if ! (cd "$VQ_LLAMACPP_DIR" && npm install --no-save --no-audit --no-fund --no-package-lock --ignore-scripts \
          "node-llama-cpp@$VQ_LLAMACPP_VERSION" "${extra[@]}" >&2); then
    echo "scripts: could not install node-llama-cpp; the llama.cpp tests will skip" >&2
    return 1
  fi
}
