# Makes an OpenCL runtime available for the OpenCL backend's tests: Debian's PoCL (a real
# OpenCL platform on the CPU), the ICD loader and its unversioned libOpenCL.so (JOCL loads
# that name). Installs them with apt-get when missing; if that is impossible, says so and the
# OpenCL tests skip themselves (unless VQ_REQUIRE_OPENCL=1, as in CI).
vq_ensure_opencl() {
  if [ -e /usr/lib/x86_64-linux-gnu/libOpenCL.so ] && ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
    return 0
  fi
  local s=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then s="sudo"; else
      echo "scripts: no OpenCL runtime and no root to install pocl-opencl-icd; OpenCL tests will skip" >&2
      return 0
    fi
  fi
  echo "scripts: installing an OpenCL runtime (pocl-opencl-icd, ocl-icd-libopencl1, ocl-icd-opencl-dev)" >&2
  { $s apt-get install -y -qq pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev >/dev/null 2>&1 ||
    { $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq pocl-opencl-icd \
        ocl-icd-libopencl1 ocl-icd-opencl-dev >/dev/null; }; } ||
    echo "scripts: installing the OpenCL runtime failed; OpenCL tests will skip" >&2
}
