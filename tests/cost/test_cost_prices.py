"""modules/cost/prices.py + prices.json: the table's shape, its provenance, lookups that fail loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from modules.cost import prices
from modules.cost.prices import PriceError


@pytest.fixture(scope="module")
def table():
    return prices.load()


def test_table_states_its_source_and_date(table):
    assert table.retrieved and table.source
    assert table.data["currency"] == "USD"


def test_every_env_file_region_and_type_is_priced(table):
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        data = yaml.safe_load(env.read_text())
        region = table.region(data["region"])
        for key, cp in data["cluster"]["capacity_providers"].items():
            assert region.per_type("ec2_instance_hour", cp["instance_type"], key) > 0
        if data.get("cache"):
            assert region.per_type("elasticache_node_hour", data["cache"]["node_type"], "cache.node_type") > 0


def test_every_priced_instance_type_is_one_the_capacity_check_knows(table):
    from modules.config.capacity import INSTANCE_SPECS

    for region, values in table.data["regions"].items():
        assert set(values["ec2_instance_hour"]) <= set(INSTANCE_SPECS), region


def test_unknown_region_names_the_field_and_the_file(table):
    with pytest.raises(PriceError) as err:
        table.region("ap-south-2")
    (field, message), = err.value.problems
    assert field == "region" and "'ap-south-2'" in message and "prices.json" in message and "us-east-1" in message


def test_unknown_type_names_the_field_and_lists_the_priced_ones(table):
    with pytest.raises(PriceError) as err:
        table.region("us-east-1").per_type("ec2_instance_hour", "p5.48xlarge", "cluster.capacity_providers.gpu.instance_type")
    (field, message), = err.value.problems
    assert field == "cluster.capacity_providers.gpu.instance_type"
    assert "'p5.48xlarge'" in message and "g5.xlarge" in message and "prices.json" in message


@pytest.mark.parametrize("change, words", [
    (lambda d: d["regions"]["us-east-1"].pop("nat_gateway_hour"), "missing 'nat_gateway_hour'"),
    (lambda d: d["regions"]["us-east-1"]["ec2_instance_hour"].update({"m6i.xlarge": "0.192"}), "is not a price"),
    (lambda d: d["regions"]["us-east-1"].update(alb_hour=-1), "is not a price"),
    (lambda d: d.pop("retrieved"), "missing 'retrieved'"),
])
def test_a_malformed_table_is_refused(tmp_path: Path, change, words):
    data = json.loads(prices.PRICES_FILE.read_text())
    change(data)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=words):
        prices.load(path)
