"""The proxy on its own: each fault kind comes back in DynamoDB's documented
wire shape (read by botocore with retries off), and it counts what it injected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from core.dynamodb_local import free_port
from faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]


def raw_client(endpoint: str, service: str = "dynamodb", read_timeout: float = 5.0):
    return botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout
        ),
    )


@pytest.fixture(scope="module")
def table(dynamodb_endpoint: str) -> str:
    name = f"proxy_{uuid.uuid4().hex[:8]}"
    c = raw_client(dynamodb_endpoint)
    c.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for i in range(10):
        c.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
    return name


@pytest.fixture
def ddb(fault_proxy: FaultProxy):
    return raw_client(fault_proxy.endpoint)


@pytest.mark.parametrize(
    "kind,status,code",
    [
        ("throttling", 400, "ThrottlingException"),
        ("provisioned_throughput", 400, "ProvisionedThroughputExceededException"),
        ("request_limit", 400, "RequestLimitExceeded"),
        ("internal_error", 500, "InternalServerError"),
    ],
)
def test_error_kinds_have_dynamodbs_shape(fault_proxy, ddb, table, kind, status, code) -> None:
    fault_proxy.set_rules([{"kind": kind, "targets": ["GetItem"], "first": 1}])
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName=table, Key={"pk": {"S": "k1"}})
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # `first: 1`: the next one goes through; other operations were never touched.
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "k1"}})["Item"]["n"] == {"N": "1"}
    ddb.scan(TableName=table, Limit=1)
    assert fault_proxy.injected(kind, "GetItem") == 1
    stats = fault_proxy.plan.stats()
    assert stats["injected"] == {kind: {"GetItem": 1}}
    assert stats["requests"]["GetItem"] == 2 and stats["requests"]["Scan"] == 1


def test_transaction_conflict_has_one_reason_per_item(fault_proxy, ddb, table) -> None:
    fault_proxy.set_rules([{"kind": "transaction_conflict", "targets": "*", "first": 1}])
    items = [{"Put": {"TableName": table, "Item": {"pk": {"S": f"tx{i}"}}}} for i in range(3)]
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=items, ClientRequestToken="t-" + uuid.uuid4().hex)
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "TransactionConflict"]
    # Nothing was applied.
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "tx0"}})
    # A "*" rule of a transaction-only kind leaves other operations alone.
    assert fault_proxy.injected() == 1


def test_a_resent_applied_transaction_is_answered_as_dynamodb_does(fault_proxy, ddb, table) -> None:
    token = "t-" + uuid.uuid4().hex
    items = [{"Put": {"TableName": table, "Item": {"pk": {"S": token}}}}]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    fault_proxy.set_rules(
        [{"kind": "transaction_conflict"}, {"kind": "throttling"}, {"kind": "latency", "every": 2}]
    )
    # Same token: DynamoDB answers success without evaluating it again, so no
    # DynamoDB error is injected (network faults still are); a new token is fair game.
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=items, ClientRequestToken=token + "x")
    assert fault_proxy.plan.stats()["injected"] == {
        "latency": {"TransactWriteItems": 1},
        "transaction_conflict": {"TransactWriteItems": 1},
    }


def test_unprocessed_keys_are_the_withheld_ones(fault_proxy, ddb, table) -> None:
    fault_proxy.set_rules([{"kind": "unprocessed_keys", "first": 1, "keep": 0.5}])
    keys = [{"pk": {"S": f"k{i}"}} for i in range(6)]
    out = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    got = {i["pk"]["S"] for i in out["Responses"][table]}
    held = out["UnprocessedKeys"][table]
    assert len(got) == 3 and held["ConsistentRead"] is True
    assert got | {k["pk"]["S"] for k in held["Keys"]} == {f"k{i}" for i in range(6)}
    # Re-asking for the unprocessed keys completes the read.
    again = ddb.batch_get_item(RequestItems={table: held})
    assert {i["pk"]["S"] for i in again["Responses"][table]} == {k["pk"]["S"] for k in held["Keys"]}
    assert again["UnprocessedKeys"] == {}


def test_stream_faults(fault_proxy, dynamodb_endpoint, table) -> None:
    streams = raw_client(fault_proxy.endpoint, "dynamodbstreams")
    arn = raw_client(dynamodb_endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    fault_proxy.set_rules(
        [
            {"kind": "expired_iterator", "first": 1},
            {"kind": "partial_records", "keep": 2},
        ]
    )
    with pytest.raises(ClientError) as err:
        streams.get_records(ShardIterator=it)
    assert err.value.response["Error"]["Code"] == "ExpiredIteratorException"
    page = streams.get_records(ShardIterator=it, Limit=1000)
    assert len(page["Records"]) == 2  # a true prefix, with an iterator after it
    rest = streams.get_records(ShardIterator=page["NextShardIterator"], Limit=1000)
    seqs = [r["dynamodb"]["SequenceNumber"] for r in page["Records"] + rest["Records"]]
    assert seqs == sorted(seqs, key=int) and len(set(seqs)) == 4
    assert fault_proxy.injected("expired_iterator") == 1
    assert fault_proxy.injected("partial_records", "GetRecords") == 2


def test_latency_slow_and_dropped_connections(fault_proxy, ddb, table) -> None:
    fault_proxy.set_rules([{"kind": "latency", "targets": ["GetItem"], "delay": 0.3, "first": 1}])
    t0 = time.monotonic()
    ddb.get_item(TableName=table, Key={"pk": {"S": "k1"}})
    assert time.monotonic() - t0 >= 0.3

    # Slower than the client's timeout: the write is applied, the answer is late.
    impatient = raw_client(fault_proxy.endpoint, read_timeout=0.3)
    fault_proxy.set_rules([{"kind": "slow", "targets": ["PutItem"], "delay": 1.0, "first": 1}])
    with pytest.raises(ReadTimeoutError):
        impatient.put_item(TableName=table, Item={"pk": {"S": "slow"}})
    assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": "slow"}})

    # Dropped before forwarding: nothing applied. After forwarding: applied.
    fault_proxy.set_rules([{"kind": "drop", "targets": ["PutItem"], "first": 1}])
    with pytest.raises(ConnectionClosedError):
        ddb.put_item(TableName=table, Item={"pk": {"S": "dropped"}})
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "dropped"}})
    fault_proxy.set_rules([{"kind": "drop_after", "targets": ["PutItem"], "first": 1}])
    with pytest.raises(ConnectionClosedError):
        ddb.put_item(TableName=table, Item={"pk": {"S": "applied"}})
    assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": "applied"}})


def test_schedules_every_max_and_probability(fault_proxy, ddb, table) -> None:
    fault_proxy.set_rules([{"kind": "throttling", "targets": ["GetItem"], "every": 3, "max": 2}])
    outcomes = []
    for _ in range(9):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "k1"}})
            outcomes.append("ok")
        except ClientError:
            outcomes.append("x")
    assert outcomes == ["ok", "ok", "x", "ok", "ok", "x", "ok", "ok", "ok"]
    fault_proxy.set_rules(
        [{"kind": "internal_error", "targets": ["GetItem"], "probability": 0.3}], seed=11
    )
    fails = 0
    for _ in range(200):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "k1"}})
        except ClientError:
            fails += 1
    assert 30 <= fails <= 90 and fault_proxy.injected("internal_error") == fails


def test_cli_runs_standalone_with_a_control_api(dynamodb_endpoint, table, tmp_path) -> None:
    port = free_port()
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps({"rules": [{"kind": "throttling", "targets": ["GetItem"], "first": 1}]})
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "--upstream",
            dynamodb_endpoint,
            "--port",
            str(port),
            "--rules",
            str(rules),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert b"listening" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        c = raw_client(base)
        with pytest.raises(ClientError):
            c.get_item(TableName=table, Key={"pk": {"S": "k1"}})
        c.get_item(TableName=table, Key={"pk": {"S": "k1"}})
        stats = httpx.get(base + "/__faultproxy/stats").json()
        assert stats["injected"] == {"throttling": {"GetItem": 1}}
        assert stats["requests"] == {"GetItem": 2}
        r = httpx.put(base + "/__faultproxy/rules", json={"rules": [{"kind": "nope"}]})
        assert r.status_code == 400 and "unknown fault kind" in r.json()["error"]
        r = httpx.put(
            base + "/__faultproxy/rules", json={"rules": [{"kind": "drop", "targets": "Scan"}]}
        )
        assert r.status_code == 200
        with pytest.raises(ConnectionClosedError):
            c.scan(TableName=table)
        assert httpx.post(base + "/__faultproxy/reset").status_code == 200
        assert httpx.get(base + "/__faultproxy/stats").json()["requests_total"] == 0
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
