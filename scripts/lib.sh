# Shared set-up steps for scripts/up and scripts/test (sourced, not run).
# Installs only what is missing, so a second run costs seconds.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${APP_LAYER_VENV:-$ROOT/.venv}"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages FILE...: apt-get install every package named in the files that is not installed.
ensure_packages() {
  local wanted missing=()
  wanted=$(grep -hv '^\s*#' "$@" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ ! -f /var/lib/apt/periodic/app-layer-updated ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
    as_root apt-get update -qq
    as_root mkdir -p /var/lib/apt/periodic && as_root touch /var/lib/apt/periodic/app-layer-updated
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv [EXTRAS]: a virtualenv with the project installed in editable mode.
ensure_venv() {
  local extras="${1:-}"
  local stamp="$VENV/.app-layer-installed${extras:+-$extras}"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$ROOT/setup.py" -nt "$stamp" ]; then
    log "installing app-layer${extras:+[$extras]} into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT${extras:+[$extras]}"
    touch "$stamp"
  fi
}

# ensure_dockerd: a Docker Engine answering on /var/run/docker.sock (started if none answers).
ensure_dockerd() {
  if docker version >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  as_root mkdir -p /var/log/app-layer
  as_root sh -c 'nohup dockerd >/var/log/app-layer/dockerd.log 2>&1 &'
  for _ in $(seq 1 150); do
    docker version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "dockerd did not start; see /var/log/app-layer/dockerd.log"
  tail -20 /var/log/app-layer/dockerd.log >&2
  return 1
}
