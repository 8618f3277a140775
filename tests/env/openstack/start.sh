#!/bin/bash
# Configure, initialise DBs and start, all on 127.0.0.1: MariaDB (or SQLite), RabbitMQ, Keystone, Placement,
# Glance (file store), Neutron (ML2, no agents, fake_bind mech driver), Nova (api/conductor/scheduler/compute with
# the fake virt driver) and Cinder (fake volume driver). APIs run under uwsgi (1 process, 2 threads each).
# Two regions / clouds to place across: Keystone regions "gov-nanning" and "gov-guilin" (each with its own catalog
# endpoints), two fake hypervisors in two availability zones (gov-nanning-az, gov-guilin-az), one admin project per
# cloud; seed.py writes $RUN/clouds.yaml with the entries "gov-nanning" and "gov-guilin".
# Usage: [OS_BASE=/var/tmp/yunwang-openstack] [RUN=<repo>/var/openstack] [NOVA_COMPUTES=2] bash start.sh
# Stop with: bash stop.sh (same RUN). Run install.sh first (once).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../../.." && pwd)
OS_BASE=${OS_BASE:-/var/tmp/yunwang-openstack}; RUN=${RUN:-$REPO/var/openstack}; V=$OS_BASE/venv
NOVA_COMPUTES=${NOVA_COMPUTES:-2}
[ -x $V/bin/nova-compute ] || { echo "run $HERE/install.sh first" >&2; exit 1; }
if curl -sf -o /dev/null http://127.0.0.1:5000/v3 && [ -f $RUN/clouds.yaml ]; then echo "openstack already running: $RUN/clouds.yaml"; exit 0; fi
bash $HERE/stop.sh >/dev/null 2>&1 || true
rm -rf $RUN
export PYTHONWARNINGS=ignore
mkdir -p $RUN/logs $RUN/pids
L=$RUN/logs; P=$RUN/pids
T0=$(date +%s.%N); ts() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N)-$T0" | bc)" "$*"; }
PW=secret; KS=http://127.0.0.1:5000/v3
DB=${DB:-mysql}   # mysql (MariaDB from apt, robust) | sqlite (nova/cinder hit 'database is locked' under concurrent writes)
dburl() { # service-dir dbname
  if [ "$DB" = mysql ]; then echo "mysql+pymysql://openstack:$PW@127.0.0.1/$2?charset=utf8"
  else echo "sqlite:///$RUN/$1/$2.db?timeout=30"; fi
}
authsec() { cat <<EOT
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
region_name = gov-nanning
username = $1
password = $PW
EOT
}
authtoken() { echo "[keystone_authtoken]"; echo "www_authenticate_uri = $KS"; echo "memcached_servers ="; authsec $1; }
uwsgi_ini() { # name port module env...
  local n=$1 port=$2 mod=$3; shift 3
  { echo "[uwsgi]"; echo "http-socket = 127.0.0.1:$port"; echo "module = $mod"
    for e in "$@"; do echo "env = $e"; done
    printf 'master = true\nprocesses = 1\nthreads = 2\nenable-threads = true\nlazy-apps = true\ndie-on-term = true\nneed-app = true\nbuffer-size = 65535\nadd-header = Connection: close\n'
  } > $RUN/$n/uwsgi.ini
}
start_uwsgi() { nohup $V/bin/uwsgi --ini $RUN/$1/uwsgi.ini --home $V > $L/$1-uwsgi.log 2>&1 & echo $! > $P/$1.pid; }
wait_http() { for i in $(seq 1 120); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "TIMEOUT $1"; return 1; }

# ---------------- RabbitMQ (apt), loopback only, in background
EPMD_BEFORE=$(pgrep -x epmd | tr '\n' ' ' || true)
( export ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=rabbit@localhost \
         RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  nohup rabbitmq-server > $L/rabbit.out 2>&1 & echo $! > $P/rabbit.pid
  rabbitmqctl -n rabbit@localhost -q await_startup --timeout 120 >/dev/null 2>&1 || { sleep 5; rabbitmqctl -n rabbit@localhost -q await_startup; }
  # remember the epmd rabbitmq-server spawned (only if none ran before), so stop.sh ends it by PID
  for e in $(pgrep -x epmd); do echo " $EPMD_BEFORE " | grep -q " $e " || echo $e; done > $P/epmd.pid
  rabbitmqctl -n rabbit@localhost -q add_user openstack $PW >/dev/null 2>&1 || true
  rabbitmqctl -n rabbit@localhost -q set_permissions openstack ".*" ".*" ".*" >/dev/null ) > $L/rabbit-setup.log 2>&1 &
RABBIT_JOB=$!

# ---------------- MariaDB (apt: mariadb-server), private datadir, 127.0.0.1 only, durability off (test data)
if [ "$DB" = mysql ]; then
  mkdir -p $RUN/mysql
  mariadb-install-db --user=root --datadir=$RUN/mysql/data --auth-root-authentication-method=socket --skip-test-db > $L/mysql-install.log 2>&1
  nohup mariadbd --user=root --datadir=$RUN/mysql/data --socket=$RUN/mysql/mysqld.sock --pid-file=$RUN/mysql/mysqld.pid \
    --bind-address=127.0.0.1 --port=3306 --skip-name-resolve --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --innodb-buffer-pool-size=256M --max-connections=500 --log-error=$L/mysql.err > $L/mysql.out 2>&1 &
  echo $! > $P/mysql.pid
  for i in $(seq 1 120); do mariadb -S $RUN/mysql/mysqld.sock -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  { echo "CREATE USER 'openstack'@'127.0.0.1' IDENTIFIED BY '$PW';"
    for d in keystone placement glance neutron nova_api nova nova_cell0 cinder; do
      echo "CREATE DATABASE $d CHARACTER SET utf8; GRANT ALL ON $d.* TO 'openstack'@'127.0.0.1';"; done
  } | mariadb -S $RUN/mysql/mysqld.sock -u root
  ts "mariadb up"
fi

# ---------------- configs
mkdir -p $RUN/{keystone,placement,glance/{images,staging,tasks,lock},neutron/{plugins/ml2,lock,state},nova/{state,instances,lock}}
cat > $RUN/keystone/keystone.conf <<EOT
[DEFAULT]
log_file = $L/keystone.log
[database]
connection = $(dburl keystone keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $RUN/keystone/fernet-keys
[credential]
key_repository = $RUN/keystone/credential-keys
[cache]
enabled = true
backend = oslo_cache.dict
[identity]
password_hash_rounds = 4
EOT
cat > $RUN/placement/placement.conf <<EOT
[DEFAULT]
log_file = $L/placement.log
[placement_database]
connection = $(dburl placement placement)
[api]
auth_strategy = keystone
$(authtoken placement)
EOT
cp $V/etc/glance/glance-api-paste.ini $RUN/glance/
cat > $RUN/glance/glance-api.conf <<EOT
[DEFAULT]
log_file = $L/glance.log
enabled_backends = fs:file
[database]
connection = $(dburl glance glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $RUN/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $RUN/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $RUN/glance/tasks
[paste_deploy]
flavor = keystone
config_file = $RUN/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $RUN/glance/lock
$(authtoken glance)
EOT
cp $V/etc/neutron/api-paste.ini $RUN/neutron/
cat > $RUN/neutron/neutron.conf <<EOT
[DEFAULT]
log_file = $L/neutron.log
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = rabbit://openstack:$PW@127.0.0.1:5672/
api_paste_config = $RUN/neutron/api-paste.ini
state_path = $RUN/neutron/state
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
dhcp_agent_notification = false
[database]
connection = $(dburl neutron neutron)
[oslo_concurrency]
lock_path = $RUN/neutron/lock
[oslo_messaging_notifications]
driver = noop
[nova]
$(authsec nova)
$(authtoken neutron)
EOT
cat > $RUN/neutron/plugins/ml2/ml2_conf.ini <<EOT
[ml2]
type_drivers = flat,vlan,vxlan,local
tenant_network_types = vxlan
mechanism_drivers = fake_bind
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:1000
[ml2_type_flat]
flat_networks = public
[securitygroup]
enable_security_group = true
firewall_driver = noop
EOT
cp $V/etc/nova/api-paste.ini $RUN/nova/
cat > $RUN/nova/nova.conf <<EOT
[DEFAULT]
transport_url = rabbit://openstack:$PW@127.0.0.1:5672/
compute_driver = ${NOVA_COMPUTE_DRIVER:-fake.FakeDriverWithoutFakeNodes}
host = fakehost1
my_ip = 127.0.0.1
# single fake host: let resize/cold-migrate land on the same host
allow_resize_to_same_host = true
state_path = $RUN/nova/state
instances_path = $RUN/nova/instances
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $RUN/nova/api-paste.ini
[api_database]
connection = $(dburl nova nova_api)
[database]
connection = $(dburl nova nova)
[cache]
enabled = true
backend = oslo_cache.dict
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = $RUN/nova/lock
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[glance]
region_name = gov-nanning
$(authtoken nova)
[placement]
$(authsec placement)
[neutron]
$(authsec neutron)
[service_user]
send_service_user_token = true
$(authsec nova)
[cinder]
catalog_info = block-storage::publicURL
os_region_name = gov-nanning
EOT
if [ "${WITH_CINDER:-1}" = 1 ]; then
mkdir -p $RUN/cinder/{lock,state}; cp $V/etc/cinder/api-paste.ini $RUN/cinder/
cat > $RUN/cinder/cinder.conf <<EOT
[DEFAULT]
transport_url = rabbit://openstack:$PW@127.0.0.1:5672/
auth_strategy = keystone
enabled_backends = fake
state_path = $RUN/cinder/state
api_paste_config = $RUN/cinder/api-paste.ini
my_ip = 127.0.0.1
host = cinderhost1
[database]
connection = $(dburl cinder cinder)
[oslo_concurrency]
lock_path = $RUN/cinder/lock
[oslo_messaging_notifications]
driver = noop
[fake]
# cinder's own test driver (shipped in the wheel): logs calls, infinite capacity, no real storage
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
[nova]
$(authsec nova)
$(authtoken cinder)
EOT
fi
ts "configs written"

# ---------------- DB init (in parallel with keystone)
( $V/bin/placement-manage --config-file $RUN/placement/placement.conf db sync
  $V/bin/glance-manage --config-file $RUN/glance/glance-api.conf db_sync
  [ "${WITH_CINDER:-1}" = 1 ] && $V/bin/cinder-manage --config-file $RUN/cinder/cinder.conf db sync
  # neutron's alembic migrations cannot run on SQLite: create schema from models, then stamp heads
  $V/bin/python $HERE/neutron_schema.py "$(dburl neutron neutron)"
  $V/bin/neutron-db-manage --config-file $RUN/neutron/neutron.conf --config-file $RUN/neutron/plugins/ml2/ml2_conf.ini stamp heads
) > $L/dbsync-others.log 2>&1 &
OTHERS_JOB=$!
( N="$V/bin/nova-manage --config-file $RUN/nova/nova.conf"
  $N api_db sync
  $N cell_v2 map_cell0 --database_connection "$(dburl nova nova_cell0)"
  $N cell_v2 create_cell --name cell1
  $N db sync ) > $L/dbsync-nova.log 2>&1 &
NOVA_JOB=$!
K="$V/bin/keystone-manage --config-file $RUN/keystone/keystone.conf"
{ $K db_sync
  $K fernet_setup --keystone-user root --keystone-group root
  $K credential_setup --keystone-user root --keystone-group root
  $K bootstrap --bootstrap-password $PW --bootstrap-region-id gov-nanning \
     --bootstrap-admin-url $KS/ --bootstrap-internal-url $KS/ --bootstrap-public-url $KS/
} > $L/keystone-setup.log 2>&1
[ "$DB" = sqlite ] && python3 -c "import sqlite3; sqlite3.connect('$RUN/keystone/keystone.db').execute('PRAGMA journal_mode=WAL')"
ts "keystone db ready"
uwsgi_ini keystone 5000 keystone.wsgi.api:application OS_KEYSTONE_CONFIG_DIR=$RUN/keystone OS_KEYSTONE_CONFIG_FILES=keystone.conf
start_uwsgi keystone
wait_http $KS; ts "keystone up"
$V/bin/python $HERE/register_services.py $KS placement nova glance neutron $([ "${WITH_CINDER:-1}" = 1 ] && echo cinder) > $L/register.log 2>&1; ts "catalog registered"
wait $OTHERS_JOB; ts "placement/glance/neutron db ready"
uwsgi_ini placement 8778 placement.wsgi.api:application OS_PLACEMENT_CONFIG_DIR=$RUN/placement
uwsgi_ini glance 9292 glance.wsgi.api:application OS_GLANCE_CONFIG_DIR=$RUN/glance
uwsgi_ini neutron 9696 neutron.wsgi.api:application OS_NEUTRON_CONFIG_DIR=$RUN/neutron "OS_NEUTRON_CONFIG_FILES=neutron.conf;plugins/ml2/ml2_conf.ini"
start_uwsgi placement; start_uwsgi glance; start_uwsgi neutron
wait $NOVA_JOB; ts "nova db ready"
# WAL journal: readers don't block the writer (fewer 'database is locked' across nova's processes)
wal() { python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1], timeout=30).execute('PRAGMA journal_mode=WAL')" "$@"; }
if [ "$DB" = sqlite ]; then for db in $RUN/{placement,glance,neutron,nova,cinder}/*.db; do if [ -f $db ]; then wal $db; fi; done; fi
wait $RABBIT_JOB; ts "rabbitmq up"
uwsgi_ini nova 8774 nova.wsgi.osapi_compute:application OS_NOVA_CONFIG_DIR=$RUN/nova
start_uwsgi nova
for s in conductor scheduler compute; do
  nohup $V/bin/nova-$s --config-file $RUN/nova/nova.conf --log-file $L/nova-$s.log > $L/nova-$s.out 2>&1 & echo $! > $P/nova-$s.pid
done
# optional extra fake hypervisors (fakehost2..N), e.g. for migrate/live-migrate/anti-affinity tests (~160 MiB each)
for i in $(seq 2 $NOVA_COMPUTES); do
  mkdir -p $RUN/nova/state$i; printf '[DEFAULT]\nhost = fakehost%s\nstate_path = %s\n' $i $RUN/nova/state$i > $RUN/nova/compute$i.conf
  nohup $V/bin/nova-compute --config-file $RUN/nova/nova.conf --config-file $RUN/nova/compute$i.conf --log-file $L/nova-compute$i.log \
    > $L/nova-compute$i.out 2>&1 & echo $! > $P/nova-compute$i.pid
done
if [ "${WITH_CINDER:-1}" = 1 ]; then
  uwsgi_ini cinder 8776 cinder.wsgi.api:application
  echo "pyargv = --config-file $RUN/cinder/cinder.conf --log-file $L/cinder-api.log" >> $RUN/cinder/uwsgi.ini
  start_uwsgi cinder
  for s in scheduler volume; do
    nohup $V/bin/cinder-$s --config-file $RUN/cinder/cinder.conf --log-file $L/cinder-$s.log > $L/cinder-$s.out 2>&1 & echo $! > $P/cinder-$s.pid
  done
fi
wait_http http://127.0.0.1:8778/; wait_http http://127.0.0.1:9292/; wait_http http://127.0.0.1:9696/; wait_http http://127.0.0.1:8774/
[ "${WITH_CINDER:-1}" = 1 ] && wait_http http://127.0.0.1:8776/
ts "all APIs answering"
# wait until the compute node is in placement and mapped to cell1 (scheduler discovers hosts every 2s)
mapped() { if [ "$DB" = mysql ]; then [ "$(mariadb -S $RUN/mysql/mysqld.sock -u root -N -e 'select count(*) from nova_api.host_mappings')" -ge $NOVA_COMPUTES ]
  else python3 -c "import sqlite3,sys; sys.exit(0 if len(sqlite3.connect('$RUN/nova/nova_api.db').execute('select 1 from host_mappings').fetchall()) >= $NOVA_COMPUTES else 1)"; fi; }
for i in $(seq 1 240); do mapped 2>/dev/null && break; sleep 0.5; done
ts "compute host(s) mapped; ready"
$V/bin/python $HERE/seed.py $KS $RUN/clouds.yaml $NOVA_COMPUTES > $L/seed.log 2>&1 || { cat $L/seed.log; exit 1; }
ts "regions, availability zones, flavors, image, projects seeded"
echo "clouds.yaml: $RUN/clouds.yaml"
