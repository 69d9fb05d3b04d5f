# The sweep's PNG plots draw text with Java2D, which needs fontconfig and at least one font.
# Installs Debian's fontconfig and DejaVu fonts when no font is found; if that is impossible,
# says so (the plots then fail with one clear line; the tests that draw fail too).
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
vq_ensure_fonts() {
  if command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -1)" ]; then
    return 0
  fi
  vq_apt_install "fonts for the plots" fontconfig fonts-dejavu-core || echo "scripts: plots cannot be drawn" >&2
}
