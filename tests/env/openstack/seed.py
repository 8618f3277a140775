"""Seed the two test clouds and write clouds.yaml (idempotent).

- availability zones: host aggregate "gov-nanning" (AZ gov-nanning-az) holds fakehost1, aggregate "gov-guilin"
  (AZ gov-guilin-az) holds fakehost2 (when there are two compute hosts);
- one admin project per cloud (yunwang-nanning, yunwang-guilin) where the admin user has the admin role;
- public flavors (m1.tiny, m1.small) and a tiny public raw image "cirros-fake";
- a shared external network "public" (flat) with a subnet, for routers and floating IPs.

Usage: python seed.py KEYSTONE_URL OUT_CLOUDS_YAML N_COMPUTES
"""

import io
import sys
import time

import openstack
import yaml

KS, OUT, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
PW = "secret"
CLOUDS = (
    ("gov-nanning", "yunwang-nanning", "gov-nanning-az", "fakehost1"),
    ("gov-guilin", "yunwang-guilin", "gov-guilin-az", "fakehost2" if N >= 2 else "fakehost1"),
)
conn = openstack.connect(
    auth_url=KS,
    username="admin",
    password=PW,
    project_name="admin",
    user_domain_name="Default",
    project_domain_name="Default",
    region_name="gov-nanning",
    compute_api_version="2.latest",
)
for _ in range(120):
    hosts = {s.host for s in conn.compute.services(binary="nova-compute") if s.state == "up"}
    if len(hosts) >= N:
        break
    time.sleep(0.5)
admin_role = conn.identity.find_role("admin")
admin_user = conn.identity.find_user("admin")
entries = {}
for cloud, project, az, host in CLOUDS:
    if N >= 2 or cloud == "gov-nanning":
        agg = conn.compute.find_aggregate(cloud) or conn.compute.create_aggregate(name=cloud, availability_zone=az)
        if host not in (agg.hosts or []):
            conn.compute.add_host_to_aggregate(agg, host)
    else:
        az = "gov-nanning-az"
    p = conn.identity.find_project(project) or conn.identity.create_project(name=project, domain_id="default")
    conn.identity.assign_project_role_to_user(p, admin_user, admin_role)
    entries[cloud] = {
        "auth": {
            "auth_url": KS,
            "username": "admin",
            "password": PW,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": cloud,
        "identity_api_version": 3,
        "yunwang": {"availability_zone": az, "external_network": "public"},
    }
for name, ram, vcpus, disk in (("m1.tiny", 512, 1, 1), ("m1.small", 2048, 1, 20)):
    conn.compute.find_flavor(name) or conn.compute.create_flavor(name=name, ram=ram, vcpus=vcpus, disk=disk)
if not conn.image.find_image("cirros-fake"):
    conn.image.create_image(
        name="cirros-fake",
        data=io.BytesIO(b"\0" * 1024),
        disk_format="raw",
        container_format="bare",
        visibility="public",
        wait=True,
    )
net = conn.network.find_network("public")
if net is None:
    net = conn.network.create_network(
        name="public",
        is_router_external=True,
        is_shared=False,
        provider_network_type="flat",
        provider_physical_network="public",
    )
    conn.network.create_subnet(
        network_id=net.id,
        name="public-v4",
        ip_version=4,
        cidr="172.24.4.0/24",
        gateway_ip="172.24.4.1",
        enable_dhcp=False,
    )
with open(OUT, "w") as f:
    yaml.safe_dump({"clouds": entries}, f, sort_keys=False)
print("seeded; clouds:", ", ".join(entries))
