#!/bin/sh
# Installs the load generator and the peer proxies the harness compares sluice
# with. Idempotent: it installs only what is missing and refreshes the package
# lists only when a package has no install candidate. Debian/Ubuntu, as root.
set -eu

# command:package pairs; the harness needs each command.
need="wrk:wrk nginx:nginx haproxy:haproxy apache2:apache2 taskset:util-linux"

missing=""
for pair in $need; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		missing="$missing $pkg"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install.sh: missing:$missing; run as root or install them" >&2
	exit 1
fi

# Package scripts would start nginx and apache2 as system services on port 80;
# the harness starts its own instances, so keep the services down.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	own_policy=1
fi
trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
for pkg in $missing; do
	if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		apt-get update -q
		break
	fi
done
# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt-get install -y -q --no-install-recommends $missing
