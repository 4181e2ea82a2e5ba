"""Small env files written for the edge and alarm tests (not copies of stage.yaml): each holds only what
its behaviour needs, so a test states the conditions it depends on (sso or internal, WAF on or off, a GPU
or not). Build one with `small_env(...)` and synthesize it with `synths.of_data(...)`."""

from __future__ import annotations

import copy

CERTIFICATE = "arn:aws:acm:eu-central-1:111122223333:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
IDP = "https://login.example.org"
VPN = "198.51.100.0/24"

# a prompt api behind the ALB and a Grafana from the public image, named otherwise than stage's services
BASE = {
    "project": "edge",
    "environment": "small",
    "region": "eu-central-1",
    "network": {"vpc_cidr": "10.70.0.0/16", "availability_zones": ["eu-central-1a", "eu-central-1b"],
                "nat": "single"},
    "alb": {"https": True, "certificate_arn": CERTIFICATE, "target": {"service": "chat", "port": 8080},
            "health_check": {"path": "/livez"}, "public_paths": ["/v1/chat", "/v1/models"]},
    "cluster": {"container_insights": True, "default_capacity_provider": "general",
                "capacity_providers": {"general": {"instance_type": "m6i.large", "min_size": 1, "max_size": 2}}},
    "volumes": {"boards": {"uid": 472, "gid": 0}},
    "registry": {"pull_through_cache": False},
    "services": {
        "chat": {"image": "public.ecr.aws/docker/library/python:3.12.7", "cpu": 0.5, "memory": 512,
                 "ports": [8080], "allow_from": ["boards"]},
        "boards": {"image": "grafana/grafana-oss:11.2.0", "cpu": 0.5, "memory": 512, "ports": [3000],
                   "volumes": ["boards:/var/lib/grafana"], "user": "472:0"},
    },
}


def small_env(*, grafana: str = "internal", waf: bool = False, gpu: bool = False) -> dict:
    """BASE with Grafana `internal` or `sso` (the ALB's OIDC on grafana.<host>), the WAF on or off, and a GPU
    capacity provider running an LLM server with an init container that pulls its models."""
    data = copy.deepcopy(BASE)
    if grafana == "sso":
        data["secrets"] = {"boards-oidc": {"existing": True}}
        data["alb"]["grafana"] = {
            "exposure": "sso", "service": "boards", "host": "boards.example.org", "allowed_cidrs": [VPN],
            "oidc": {"issuer": IDP, "authorization_endpoint": f"{IDP}/authorize", "token_endpoint": f"{IDP}/token",
                     "user_info_endpoint": f"{IDP}/userinfo", "client_id": "boards-client",
                     "client_secret": "boards-oidc",
                     "role_attribute_path": "contains(groups[*], 'ops') && 'Admin' || 'Viewer'"}}
    if waf:
        data["alb"]["waf"] = {"enabled": True, "prompt_paths": ["/v1/chat"]}
    if gpu:
        data["cluster"]["capacity_providers"]["accel"] = {
            "instance_type": "g5.xlarge", "gpu": True, "min_size": 0, "max_size": 1, "desired_capacity": 1}
        data["services"]["llm"] = {"image": "ollama/ollama:0.3.14", "cpu": 2, "memory": 8192, "gpu": 1,
                                   "capacity_provider": "accel", "ports": [11434], "allow_from": ["chat"]}
        data["services"]["llm-models"] = {"kind": "init", "init_of": "llm", "image": "ollama/ollama:0.3.14",
                                          "cpu": 0, "memory": 128, "depends_on": ["llm"]}
    return data
