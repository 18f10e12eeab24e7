"""A fault-injecting DynamoDB proxy for tests, benchmarks and chaos runs.

Put it between every process of the app and DynamoDB (Local): point
`LOANGRAPH_DYNAMODB_ENDPOINT` at it. See docs/reliability.md.
"""

from faultproxy.faults import KINDS, Plan, Rule
from faultproxy.proxy import FaultProxy

__all__ = ["KINDS", "FaultProxy", "Plan", "Rule"]
