"""What moto's IAM gets wrong that a re-sent call meets: removing a role an instance profile
no longer holds.

moto 5 fails RemoveRoleFromInstanceProfile for a role not in the profile with a Python
ValueError (list.remove) instead of an answer. IAM answers NoSuchEntity (404), which is what
a removal re-sent after its first answer was lost gets. The message is an assumption.
"""

from .base import Backend, SimError


class NoSuchEntity(SimError):
    code = "NoSuchEntity"
    status = 404


class IAMOverlay(Backend):
    service = "iam"
    operations = ("RemoveRoleFromInstanceProfile",)

    def remove_role_from_instance_profile(self, params):
        iam = self.world.client("iam")
        profile, role = params["InstanceProfileName"], params["RoleName"]
        try:
            roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"].get("Roles", [])
        except iam.exceptions.NoSuchEntityException:
            return None  # moto says so
        if not any(r["RoleName"] == role for r in roles):
            raise NoSuchEntity(f"The role with name {role} cannot be found in instance profile {profile}.")
        return None
