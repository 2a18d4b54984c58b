#!/usr/bin/env bash
# Prints the URI of the Debian archive this machine already uses for CODENAME, so that the backports source
# scripts/setup-system.sh adds goes through the same mirror or proxy:
#   bash scripts/debian-mirror.sh CODENAME [APT_DIR]     (APT_DIR: /etc/apt by default)
# Reads APT_DIR/sources.list and APT_DIR/sources.list.d/*.list (one-line format) and *.sources (deb822),
# and takes the first enabled `deb` entry whose suite is CODENAME itself, else CODENAME-updates,
# -backports or -proposed-updates (never -security: that archive has no backports). Prints
# http://deb.debian.org/debian when none is found.
set -euo pipefail
codename=${1:?usage: debian-mirror.sh CODENAME [APT_DIR]}
dir=${2:-/etc/apt}
files=()
for f in "$dir/sources.list" "$dir"/sources.list.d/*.list "$dir"/sources.list.d/*.sources; do
  [ -f "$f" ] && files+=("$f")
done
uri=""
if [ ${#files[@]} -gt 0 ]; then
  # For each entry: "RANK URI" with RANK 0 for the codename itself, 1 for its other archive suites.
  uri=$(awk -v codename="$codename" '
    function rank(suite) {
      if (suite == codename) return 0
      if (suite == codename "-updates" || suite == codename "-backports" || suite == codename "-proposed-updates") return 1
      return -1
    }
    function entry(uris, suites,   u, s, nu, ns, i, j, r) {
      nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
      for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) {
        r = rank(s[j])
        if (r >= 0 && u[i] != "" && u[i] !~ /^cdrom:/) print r, u[i]
      }
    }
    function flush() {
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") entry(uris, suites)
      types = uris = suites = enabled = ""
    }
    FNR == 1 { flush(); deb822 = FILENAME ~ /\.sources$/ }
    /^[ \t]*#/ { next }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]/) next                      # continuation of a field these do not use
      field = tolower($0); sub(/:.*/, "", field)
      value = $0; sub(/^[^:]*:[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
      if (field == "types") types = value
      else if (field == "uris") uris = value
      else if (field == "suites") suites = value
      else if (field == "enabled") enabled = value
      next
    }
    {
      line = $0; sub(/#.*/, "", line)
      gsub(/\[[^]]*\]/, " ", line)                 # [arch=amd64 signed-by=...] options
      n = split(line, w, /[ \t]+/); k = 1
      while (k <= n && w[k] == "") k++
      if (w[k] == "deb" && k + 2 <= n) entry(w[k + 1], w[k + 2])
    }
    END { flush() }
  ' "${files[@]}" | sort -s -k1,1n | awk 'NR == 1 { print $2 }')
fi
echo "${uri:-http://deb.debian.org/debian}"
