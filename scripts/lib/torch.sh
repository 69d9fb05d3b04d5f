# Sourced by the scripts whose peer is PyTorch: Debian's python3-torch for /usr/bin/python3, with
# OpenBLAS as the system BLAS/LAPACK (without it torch's CPU linear algebra uses the reference
# LAPACK, many times slower). Installs them when missing.
vq_ensure_torch() {
  if /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3 ]; then
    return 0
  fi
  echo "scripts: installing python3-torch and libopenblas0-pthread (Debian)" >&2
  local s=""; [ "$(id -u)" = 0 ] || s="sudo"
  $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
}
