"""Volumes: the env file's named volumes (seed §3.2) as one encrypted EFS file system.

One access point per volume, with the POSIX owner the image runs as: the access point creates its
root directory with that owner and enforces that identity for every NFS call, so a non-root image
(prometheus 65534, grafana 472, tempo 10001) can write its data directory on first start.
Clients must use TLS (file system policy) and IAM authorization (set on each task volume by the
Workload construct, which grants the task role access to its own access points only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.efs_access_point import (
    EfsAccessPoint,
    EfsAccessPointPosixUser,
    EfsAccessPointRootDirectory,
    EfsAccessPointRootDirectoryCreationInfo,
)
from cdktf_cdktf_provider_aws.efs_file_system import EfsFileSystem
from cdktf_cdktf_provider_aws.efs_file_system_policy import EfsFileSystemPolicy
from cdktf_cdktf_provider_aws.efs_mount_target import EfsMountTarget
from constructs import Construct

from modules.config import EnvConfig
from modules.network import flat_output

if TYPE_CHECKING:
    from modules.network import Network
    from modules.security_groups import SecurityGroups


class Volumes(Construct):
    """Exposes file_system_id, file_system_arn, access_point_id(name), access_point_arn(name).

    With no `volumes` in the env file nothing is created and file_system_id/arn are None.
    """

    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, network: Network, security: SecurityGroups):
        super().__init__(scope, id_)
        self.file_system_id: str | None = None
        self.file_system_arn: str | None = None
        self._access_points: dict[str, EfsAccessPoint] = {}
        if not cfg.volumes:
            return

        fs = EfsFileSystem(
            self,
            "file_system",
            creation_token=f"{cfg.name}-volumes",
            encrypted=True,
            throughput_mode=cfg.volumes_throughput_mode,
            tags={"Name": f"{cfg.name}-volumes"},
        )
        self.file_system_id = fs.id
        self.file_system_arn = fs.arn

        # One mount target per private subnet: tasks in any AZ mount locally.
        for index, subnet_id in enumerate(network.private_subnet_ids):
            EfsMountTarget(
                self,
                f"mount_target_{index}",
                file_system_id=fs.id,
                subnet_id=subnet_id,
                security_groups=[security.efs_id],
            )
        for name, volume in sorted(cfg.volumes.items()):
            self._access_points[name] = self._access_point(cfg, fs, name, volume)
        self._deny_plaintext(fs)
        flat_output(self, "efs_file_system_id", fs.id, "EFS file system holding the named volumes")

    def _access_point(self, cfg: EnvConfig, fs: EfsFileSystem, name: str, volume) -> EfsAccessPoint:
        """The volume's root directory, created with the owner the image runs as, and that identity enforced."""
        return EfsAccessPoint(
            self,
            f"access_point_{name}",
            file_system_id=fs.id,
            posix_user=EfsAccessPointPosixUser(uid=volume.uid, gid=volume.gid),
            root_directory=EfsAccessPointRootDirectory(
                path=f"/{name}",
                creation_info=EfsAccessPointRootDirectoryCreationInfo(
                    owner_uid=volume.uid, owner_gid=volume.gid, permissions=volume.permissions
                ),
            ),
            tags={"Name": f"{cfg.name}-{name}"},
        )

    def _deny_plaintext(self, fs: EfsFileSystem) -> None:
        """Deny every client that does not use TLS; access itself is granted per task role (IAM)."""
        deny_plaintext = DataAwsIamPolicyDocument(
            self,
            "file_system_policy_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="DenyWithoutTls",
                    effect="Deny",
                    principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="AWS", identifiers=["*"])],
                    actions=["*"],
                    resources=[fs.arn],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="Bool", variable="aws:SecureTransport", values=["false"]
                        )
                    ],
                )
            ],
        )
        EfsFileSystemPolicy(self, "file_system_policy", file_system_id=fs.id, policy=deny_plaintext.json)

    def access_point_id(self, name: str) -> str:
        return self._access_points[name].id

    def access_point_arn(self, name: str) -> str:
        return self._access_points[name].arn
