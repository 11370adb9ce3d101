#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth and a
# database named test, installing and starting Debian's package when none does.
set -euo pipefail

answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if command -v pg_isready >/dev/null && answers; then
	exit 0
fi

if ! command -v pg_ctlcluster >/dev/null; then
	echo "postgres: installing PostgreSQL from Debian's packages" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# Listen on loopback only, and trust local connections: this server exists
# for the test suite on this machine.
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
sed -i -E 's/^(host|local)(\s+all\s+all\s+.*)(md5|scram-sha-256|peer)$/\1\2trust/' "$conf/pg_hba.conf"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true

for _ in $(seq 1 30); do
	answers && break
	sleep 1
done
answers || { echo "postgres: no server answers on 127.0.0.1:5432" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 ||
	psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null
