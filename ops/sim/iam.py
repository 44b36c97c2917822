"""What moto's IAM gets wrong that a re-sent call meets: removing a role an instance profile
no longer holds; and when each instance profile was made, for EC2's view of IAM, which lags
(`iam.propagation`: ec2.py refuses a launch with a profile younger than that).

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
    amended = ("CreateInstanceProfile", "CreateRole")

    @property
    def profiles_made(self):
        """instance profile name -> when it was created, on the world's clock"""
        return self.world.store.section("iam").setdefault("profiles_made", {})

    def amend_create_instance_profile(self, params, parsed):
        self.profiles_made[parsed["InstanceProfile"]["InstanceProfileName"]] = self.now()

    def visible_to_ec2(self, profile: str) -> bool:
        made = self.profiles_made.get(profile)
        return made is None or self.now() >= made + self.world.durations["iam.propagation"]

    @property
    def roles_made(self):
        """role name -> when it was created, on the world's clock"""
        return self.world.store.section("iam").setdefault("roles_made", {})

    def amend_create_role(self, params, parsed):
        self.roles_made[parsed["Role"]["RoleName"]] = self.now()

    def role_visible(self, role: str) -> bool:
        """Whether services that assume roles (EventBridge Scheduler) see a role yet."""
        made = self.roles_made.get(role)
        return made is None or self.now() >= made + self.world.durations["iam.propagation"]

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
