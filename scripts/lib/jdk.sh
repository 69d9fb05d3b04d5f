# Sourced by the scripts: finds a JDK >= 25 without the user setting anything.
# JAVA_HOME wins when it is new enough; otherwise the newest JDK under /usr/lib/jvm.
vq_java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
vq_find_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    local v; v=$(vq_java_major "$JAVA_HOME")
    if [ "${v:-0}" -ge 25 ] 2>/dev/null; then echo "$JAVA_HOME"; return 0; fi
  fi
  local best="" bestv=0 d v
  for d in /usr/lib/jvm/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(vq_java_major "$d"); v=${v%%.*}
    if [ "${v:-0}" -ge 25 ] 2>/dev/null && [ "$v" -gt "$bestv" ]; then best=$d; bestv=$v; fi
  done
  if [ -z "$best" ]; then
    echo "vq: no JDK 25 or newer found (JAVA_HOME=${JAVA_HOME:-unset}, /usr/lib/jvm); install one, e.g. a Temurin 25 JDK" >&2
    return 1
  fi
  echo "$best"
}
VQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JAVA_HOME=$(vq_find_jdk) || exit 1
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8 on JDK 25 warns about sun.misc.Unsafe on every start; the warning is Maven's, not ours.
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
# The heap starts at its maximum (-XX:InitialRAMPercentage=100 is clamped to -Xmx, or to the default
# maximum; an -Xms in VQ_JAVA_OPTS overrides it): a heap that starts small is grown, shrunk after
# collections and grown again, and every big array then lands on pages the kernel must fault in
# first (about 1 GB/s on a 2-core VM). Nothing is touched ahead (no AlwaysPreTouch): the resident
# set still grows with what a run uses. docs/BENCHMARKS.md has the measurement.
VQ_JVM_FLAGS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -XX:InitialRAMPercentage=100)
# PoCL (the OpenCL CPU runtime) initialises LLVM, which installs its own SIGSEGV/SIGBUS/SIGILL/SIGFPE
# handlers over the JVM's; the JVM takes those signals in normal running (implicit null checks,
# safepoint polls), so the process then dies now and then with signal 11 and no hs_err file
# (measured: 3 of 8 `vq quantize --device opencl` runs on this machine). The JDK's signal-chaining
# library keeps the JVM's handlers first: every JVM these scripts start (vq, benchmarks, Maven's
# test forks) has it preloaded. Running the jar by hand with PoCL: LD_PRELOAD=$JAVA_HOME/lib/libjsig.so.
if [ -f "$JAVA_HOME/lib/libjsig.so" ]; then
  case ":${LD_PRELOAD:-}:" in
    *":$JAVA_HOME/lib/libjsig.so:"*) ;;
    *) export LD_PRELOAD="$JAVA_HOME/lib/libjsig.so${LD_PRELOAD:+:$LD_PRELOAD}" ;;
  esac
fi
