# The sweep's PNG plots draw text with Java2D, which needs fontconfig and at least one font.
# Installs Debian's fontconfig and DejaVu fonts when no font is found; if that is impossible,
# says so (the plots then fail with one clear line; the tests that draw fail too).
vq_ensure_fonts() {
  if command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -1)" ]; then
    return 0
  fi
  local s=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then s="sudo"; else
      echo "scripts: no fonts and no root to install fontconfig fonts-dejavu-core; plots cannot be drawn" >&2
      return 0
    fi
  fi
  echo "scripts: installing fonts for the plots (fontconfig, fonts-dejavu-core)" >&2
  { $s apt-get install -y -qq fontconfig fonts-dejavu-core >/dev/null 2>&1 ||
    { $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq fontconfig \
        fonts-dejavu-core >/dev/null; }; } ||
    echo "scripts: installing fonts failed; plots cannot be drawn" >&2
}
