"""Create the service project/users and the catalog in Keystone for both regions (idempotent).

Usage: python register_services.py KEYSTONE_URL service...
The second region "gov-guilin" gets its own endpoint records pointing at the same local services.
"""

import sys

import openstack

REGIONS = ("gov-nanning", "gov-guilin")
SERVICES = {
    "placement": ("placement", "http://127.0.0.1:8778"),
    "nova": ("compute", "http://127.0.0.1:8774/v2.1"),
    "glance": ("image", "http://127.0.0.1:9292"),
    "neutron": ("network", "http://127.0.0.1:9696"),
    "cinder": ("block-storage", "http://127.0.0.1:8776/v3"),
}

conn = openstack.connect(
    auth_url=sys.argv[1],
    username="admin",
    password="secret",
    project_name="admin",
    user_domain_name="Default",
    project_domain_name="Default",
    region_name=REGIONS[0],
)
idn = conn.identity
for region in REGIONS:
    if idn.find_region(region) is None:
        idn.create_region(id=region, description=f"yunwang test region {region}")
keystone = idn.find_service("keystone")
have = {(e.region_id, e.interface) for e in idn.endpoints(service_id=keystone.id)}
ks_url = next(iter(idn.endpoints(service_id=keystone.id))).url
for region in REGIONS[1:]:
    for iface in ("public", "internal", "admin"):
        if (region, iface) not in have:
            idn.create_endpoint(service_id=keystone.id, interface=iface, url=ks_url, region_id=region)
svc_proj = idn.find_project("service") or idn.create_project(name="service", domain_id="default")
admin_role = idn.find_role("admin")
service_role = idn.find_role("service")
for name in sys.argv[2:] or list(SERVICES):
    stype, url = SERVICES[name]
    user = idn.find_user(name) or idn.create_user(name=name, password="secret", domain_id="default")
    idn.assign_project_role_to_user(svc_proj, user, admin_role)
    if service_role:
        idn.assign_project_role_to_user(svc_proj, user, service_role)
    svc = idn.find_service(name) or idn.create_service(name=name, type=stype)
    have = {(e.region_id, e.interface) for e in idn.endpoints(service_id=svc.id)}
    for region in REGIONS:
        for iface in ("public", "internal", "admin"):
            if (region, iface) not in have:
                idn.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=region)
    print("registered", name, stype, url)
