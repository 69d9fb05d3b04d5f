# Makes an OpenCL runtime available for the OpenCL backend's tests: Debian's PoCL (a real
# OpenCL platform on the CPU), the ICD loader and its unversioned libOpenCL.so (JOCL loads
# that name). Installs them with apt-get when missing; if that is impossible, says so and the
# OpenCL tests skip themselves (unless VQ_REQUIRE_OPENCL=1, as in CI).
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
vq_ensure_opencl() {
  if [ -e /usr/lib/x86_64-linux-gnu/libOpenCL.so ] && ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
    return 0
  fi
  vq_apt_install "an OpenCL runtime" pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev ||
    echo "scripts: no OpenCL runtime; OpenCL tests will skip" >&2
}
