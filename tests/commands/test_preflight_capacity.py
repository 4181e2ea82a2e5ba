"""modules/commands/preflight/capacity.py: zones and instance offerings against moto in-process; the vCPU quotas
on botocore's Stubber (moto lacks them: preflight_support.py)."""

from __future__ import annotations

from modules.commands import preflight
from preflight_support import ENOUGH, aws, env_cfg, levels, stubbed_quotas  # noqa: F401  (aws: the fixture)


# ------------------------------------------------------------------ instance type offering
def test_gpu_instance_type_offered_in_the_chosen_zones_passes(aws, tmp_path):
    findings = preflight.check_instance_offerings(env_cfg(tmp_path), aws)
    assert levels(findings) == ["ok", "ok"] and "g5.xlarge offered in us-east-1a, us-east-1b" in findings[1].text


def test_gpu_instance_type_missing_in_a_chosen_zone_fails(aws, tmp_path):
    def five_zones(data):  # us-east-1a..e: moto (like AWS) offers neither g5 nor m6i in us-east-1e
        data["network"]["availability_zones"] = [f"us-east-1{x}" for x in "abcde"]
        data["network"].pop("az_count", None)
    findings = {f.check: f for f in preflight.check_instance_offerings(env_cfg(tmp_path, five_zones), aws)}
    gpu = findings["capacity provider gpu"]
    assert gpu.level == "FAIL" and "g5.xlarge is not offered in us-east-1e (of the chosen us-east-1a," in gpu.text
    assert findings["capacity provider general"].level == "FAIL"

    def four_zones_in_ireland(data):  # more zones than the region has (moto's eu-west-1 has 3, like AWS's)
        data["region"] = "eu-west-1"
        data["network"]["availability_zones"] = [f"eu-west-1{x}" for x in "abcd"]
        data["network"].pop("az_count", None)
    [finding] = preflight.check_instance_offerings(env_cfg(tmp_path, four_zones_in_ireland), preflight.Aws("eu-west-1"))
    assert finding.level == "FAIL" and "eu-west-1d not available in eu-west-1" in finding.text


# ------------------------------------------------------------------ vCPU quotas (Stubber: moto lacks them)
def test_vcpu_quotas_covering_max_size_pass(aws, tmp_path):
    client, stub = stubbed_quotas(ENOUGH)
    aws.clients["service-quotas"] = client
    findings = preflight.check_vcpu_quotas(env_cfg(tmp_path), aws)
    stub.assert_no_pending_responses()
    assert levels(findings) == ["ok", "ok"], findings
    assert "8 vCPUs >= 4 at max_size (gpu 4)" in findings[1].text


def test_new_accounts_zero_gpu_quota_fails_with_the_increase_to_request(aws, tmp_path):
    client, stub = stubbed_quotas({"L-1216C47A": 8.0, "L-DB2E81BA": 0.0})
    aws.clients["service-quotas"] = client
    findings = {f.check: f for f in preflight.check_vcpu_quotas(env_cfg(tmp_path), aws)}
    gpu, standard = findings["quota L-DB2E81BA"], findings["quota L-1216C47A"]
    assert gpu.level == "FAIL" and "is 0 vCPUs" in gpu.text and "--quota-code L-DB2E81BA --desired-value 4" in gpu.text
    assert standard.level == "FAIL" and "need 16 at max_size (general 16)" in standard.text


def test_instance_families_map_to_their_quota():
    assert preflight.vcpu_quota_of("g4dn.xlarge")[0] == preflight.GPU_VCPU_QUOTA
    assert preflight.vcpu_quota_of("vt1.3xlarge")[0] == preflight.GPU_VCPU_QUOTA
    assert preflight.vcpu_quota_of("m6i.xlarge")[0] == preflight.STANDARD_VCPU_QUOTA
    assert preflight.vcpu_quota_of("im4gn.large")[0] == preflight.STANDARD_VCPU_QUOTA
    assert preflight.vcpu_quota_of("inf2.xlarge")[0] == "L-1945791B"
    assert preflight.vcpu_quota_of("p4d.24xlarge")[0] == "L-417A185B"
    assert preflight.vcpu_quota_of("hpc7g.4xlarge") is None
