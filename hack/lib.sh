# shellcheck shell=bash
# Shared helpers for hack/*.sh. Source it; it does not run anything by itself.
#
# Sets ROOT (repo root), BIN (ROOT/bin) and loads the pinned tool versions from hack/versions.env,
# the one file the Makefile includes too, so a script and `make` never disagree about a version.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin"
export ROOT BIN

# shellcheck source=hack/versions.env
source "${ROOT}/hack/versions.env"

# Colour only on a terminal, so CI logs stay plain text.
if [[ -t 2 ]]; then
  _c_info=$'\033[1;34m' _c_warn=$'\033[1;33m' _c_err=$'\033[1;31m' _c_off=$'\033[0m'
else
  _c_info='' _c_warn='' _c_err='' _c_off=''
fi

# Messages go to stderr so that stdout stays usable for data (e.g. `status`).
log()  { printf '%s==>%s %s\n' "${_c_info}" "${_c_off}" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "${_c_warn}" "${_c_off}" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "${_c_err}" "${_c_off}" "$*" >&2; exit 1; }

# fmt_duration SECONDS -> "3m31s" / "42s"
fmt_duration() {
  local s=$1
  if (( s >= 60 )); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}
