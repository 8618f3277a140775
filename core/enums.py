"""Platform enums: API roles and the actions the audit log records."""

from enum import StrEnum


class Role(StrEnum):
    """API roles; scoped roles see and change only their unit subtree."""

    ADMIN = "admin"
    CLOUD_CHIEF_OFFICE = "cloud_chief_office"
    SUB_CLOUD_CHIEF = "sub_cloud_chief"
    CLOUD_OPERATOR = "cloud_operator"
    NETWORK_ADMIN = "network_admin"
    DEPARTMENT_USER = "department_user"
    AUDITOR = "auditor"


class ChangeAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    DECIDE = "decide"
