# vq_apt_install WHAT PACKAGE...: installs Debian packages the project needs, with sudo when
# not root; says what and why on stderr. Returns 1 (after saying so) when there is no root or
# the install fails; callers decide what that means for them.
vq_apt_install() {
  local what=$1; shift
  local s=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then s="sudo"; else
      echo "scripts: no root to install $* ($what)" >&2
      return 1
    fi
  fi
  echo "scripts: installing $what ($*)" >&2
  { $s apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq "$@" >/dev/null; }; } ||
    { echo "scripts: installing $* failed" >&2; return 1; }
}
