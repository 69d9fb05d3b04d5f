# Makes the real CUDA headers and libraries available to CudaBindingsTest, which checks every FFM
# downcall vq4j declares (the driver, NVRTC, cuBLAS, cuSOLVER) against its C prototype and the
# symbol against the library; no GPU needed. Debian has them in non-free: the headers in
# nvidia-cuda-dev (774 MB to download, 2.8 GB installed, most of it libraries the test does not
# need), the libraries in libcuda1 (whose install would pull in the kernel driver's packages),
# libcublas*, libcublaslt* and libcusolver*. So nothing is installed: the packages are fetched with
# `apt-get download` and only usr/include and the shared libraries are unpacked, into a cache
# directory outside the repository (VQ_CUDA_DEV_DIR, default ~/.cache/vq4j/cuda-dev: ~15 MB of
# headers, ~1 GB of libraries; the .deb files are deleted). Done once: a complete cache is reused.
# Measured from scratch on the shared 2 cores (2026-12-03): 3 min 20 s at load ~16, 8 min at load
# ~28 under nice (the 1 GB download takes about 30 s; the rest is unpacking xz).
# Used by .ci/run, which then sets VQ_REQUIRE_CUDA_HEADERS=1 so that the test cannot skip.
# NVRTC (scripts/lib/nvrtc.sh) comes first: its library is checked too, and installing it enables
# the non-free component these packages are in.
source "$(dirname "${BASH_SOURCE[0]}")/nvrtc.sh"
vq_ensure_cuda_headers() {
  export VQ_CUDA_DEV_DIR="${VQ_CUDA_DEV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vq4j/cuda-dev}"
  # the test reads the headers with the C++ compiler (every typedef and macro resolved)
  command -v c++ >/dev/null || command -v g++ >/dev/null ||
    vq_apt_install "a C++ compiler, to read the CUDA headers" g++ || return 1
  if [ -f "$VQ_CUDA_DEV_DIR/complete" ]; then
    return 0
  fi
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "scripts: no apt-get/dpkg-deb; the CUDA headers are not fetched (CudaBindingsTest will skip)" >&2
    return 1
  fi
  vq_ensure_nvrtc || { echo "scripts: no NVRTC, so no non-free packages; the CUDA headers are not fetched" >&2; return 1; }
  if ! apt-cache search --names-only '^nvidia-cuda-dev$' | grep -q .; then
    echo "scripts: no nvidia-cuda-dev package; the CUDA headers are not fetched" >&2
    return 1
  fi
  local pkgs=(nvidia-cuda-dev libcuda1) stem p
  for stem in libcublas libcublaslt libcusolver; do
    p=$(apt-cache search --names-only "^$stem[0-9]+\$" | awk '{print $1}' | sort -V | tail -1)
    if [ -z "$p" ]; then
      echo "scripts: no $stem package; the CUDA headers are not fetched" >&2
      return 1
    fi
    pkgs+=("$p")
  done
  local tmp
  mkdir -p "$(dirname "$VQ_CUDA_DEV_DIR")"
  tmp=$(mktemp -d "$VQ_CUDA_DEV_DIR.tmp.XXXXXX")
  echo "scripts: fetching the CUDA headers and libraries for the binding checks (${pkgs[*]}, ~1 GB) into $VQ_CUDA_DEV_DIR" >&2
  if ! (cd "$tmp" && apt-get download -qq "${pkgs[@]}" >/dev/null 2>&1); then
    echo "scripts: apt-get download ${pkgs[*]} failed; the CUDA headers are not fetched" >&2
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$tmp/x" "$tmp/include" "$tmp/lib"
  local deb ok=1
  for deb in "$tmp"/*.deb; do
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >> "$tmp/VERSIONS"
    case "$(basename "$deb")" in
      nvidia-cuda-dev_*) dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './usr/include/*' || ok=0 ;;
      *) dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards '*.so*' || ok=0 ;;
    esac
    rm -f "$deb"
  done
  if [ "$ok" != 1 ] || [ ! -f "$tmp/x/usr/include/cuda.h" ]; then
    echo "scripts: unpacking the CUDA packages failed" >&2
    rm -rf "$tmp"
    return 1
  fi
  mv "$tmp/x/usr/include"/* "$tmp/include/"
  find "$tmp/x" \( -type f -o -type l \) -name '*.so*' -exec mv {} "$tmp/lib/" \;
  rm -rf "$tmp/x"
  touch "$tmp/complete"
  rm -rf "$VQ_CUDA_DEV_DIR"
  mv "$tmp" "$VQ_CUDA_DEV_DIR"
}
