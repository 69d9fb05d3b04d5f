# Makes NVRTC (CUDA's runtime compiler, a library; no GPU needed) available so that the CUDA
# dialect of the kernels is compiled in the tests (NvrtcTest: PTX and a CUBIN, inline PTX
# assembled). Debian has it in non-free (libnvrtc11.2 on bookworm, 16 MB); this enables the
# non-free component for it in a separate sources file and installs it. Used by .ci/run only:
# scripts/test does not change a developer's apt sources, and the test skips without NVRTC.
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
vq_ensure_nvrtc() {
  if compgen -G '/usr/lib/x86_64-linux-gnu/libnvrtc.so*' >/dev/null || compgen -G '/usr/local/cuda/lib64/libnvrtc.so*' >/dev/null; then
    return 0
  fi
  local codename
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  if [ -z "$codename" ] || [ ! -d /etc/apt/sources.list.d ]; then
    echo "scripts: not a Debian system with apt; NVRTC not installed" >&2
    return 1
  fi
  local s=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then s="sudo"; else
      echo "scripts: no root to install NVRTC" >&2
      return 1
    fi
  fi
  if ! apt-cache search --names-only '^libnvrtc[0-9.]+$' 2>/dev/null | grep -q .; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$codename" | $s tee /etc/apt/sources.list.d/vq4j-nvrtc-non-free.sources >/dev/null
    $s apt-get update -qq >/dev/null 2>&1 || { echo "scripts: apt-get update failed; NVRTC not installed" >&2; return 1; }
  fi
  local pkg
  pkg=$(apt-cache search --names-only '^libnvrtc[0-9.]+$' | awk '{print $1}' | sort -V | tail -1)
  if [ -z "$pkg" ]; then
    echo "scripts: no libnvrtc package for $codename; NVRTC not installed" >&2
    return 1
  fi
  vq_apt_install "NVRTC, to compile the CUDA kernels in the tests" "$pkg"
}
