"""What moto's IAM gets wrong: it is strongly consistent, and it mishandles a re-sent call.

IAM is eventually consistent ("changes ... are not always immediately visible", the IAM user
guide, troubleshooting), and a lab meets that right after it makes its role and profile:

- IAM's own reads lag its writes. For `iam.consistency` seconds after CreateRole or
  CreateInstanceProfile, reads naming the new role or profile (GetRole, GetInstanceProfile,
  ListAttachedRolePolicies, ListRolePolicies, ListInstanceProfilesForRole) answer
  NoSuchEntity, and so does AddRoleToInstanceProfile naming the new role. Terraform waits
  up to 2 minutes for exactly these (its aws_iam_role and aws_iam_instance_profile retry
  NoSuchEntity after creating, and "The role with name" on AddRoleToInstanceProfile).
- Other services see IAM later still: for `iam.propagation` seconds after its creation,
  EC2 refuses a launch naming a new instance profile (ec2.py) and Cloud9 a CONNECT_SSM
  environment whose role or profile is new (cloud9.py), both as if it did not exist.

Not simulated: the lag of a policy's effect (a host's call just allowed by a policy attached
a moment ago; ops's host scripts retry those themselves), of deletions, and of listings
(ListRoles, ListInstanceProfiles).

moto 5 fails RemoveRoleFromInstanceProfile for a role not in the profile with a Python
ValueError (list.remove) instead of an answer. IAM answers NoSuchEntity (404), which is what
a removal re-sent after its first answer was lost gets. The message is an assumption.
"""

from .base import Backend, SimError


class NoSuchEntity(SimError):
    code = "NoSuchEntity"
    status = 404


ROLE_READS = ("GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "ListInstanceProfilesForRole")


class IAMOverlay(Backend):
    service = "iam"
    operations = (
        "RemoveRoleFromInstanceProfile",
        "AddRoleToInstanceProfile",
        "GetInstanceProfile",
        *ROLE_READS,
    )
    amended = ("CreateInstanceProfile", "CreateRole")

    @property
    def made(self):
        """'role:NAME' / 'profile:NAME' -> when IAM created it, on the world's clock"""
        return self.world.store.section("iam").setdefault("made", {})

    def amend_create_instance_profile(self, params, parsed):
        self.made[f"profile:{parsed['InstanceProfile']['InstanceProfileName']}"] = self.now()

    def amend_create_role(self, params, parsed):
        self.made[f"role:{parsed['Role']['RoleName']}"] = self.now()

    def _older_than(self, what: str, duration: str) -> bool:
        made = self.made.get(what)
        return made is None or self.now() >= made + self.world.durations[duration]

    def visible_to_services(self, kind: str, name: str) -> bool:
        """Do EC2 and Cloud9 see this role or instance profile yet (kind: role, profile)?"""
        return self._older_than(f"{kind}:{name}", "iam.propagation")

    def _role_visible(self, name: str) -> None:
        if not self._older_than(f"role:{name}", "iam.consistency"):
            raise NoSuchEntity(f"The role with name {name} cannot be found.")

    def get_instance_profile(self, params):
        name = params["InstanceProfileName"]
        if not self._older_than(f"profile:{name}", "iam.consistency"):
            raise NoSuchEntity(f"Instance Profile {name} cannot be found.")
        return None

    def get_role(self, params):
        self._role_visible(params["RoleName"])
        return None

    list_attached_role_policies = list_role_policies = list_instance_profiles_for_role = get_role

    def add_role_to_instance_profile(self, params):
        self._role_visible(params["RoleName"])
        return None

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
