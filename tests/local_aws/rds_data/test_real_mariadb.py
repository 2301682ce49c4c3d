"""The local RDS Data API against a real MariaDB, through boto3's `rds-data` client (moto plays Secrets Manager)."""

from __future__ import annotations

from typing import Any

from tests.support.mariadb import CLUSTER_ARN


def test_execute_and_batch_answer_as_the_data_api(rds_data: Any, master_secret: str, database: str) -> None:
    target = {"resourceArn": CLUSTER_ARN, "secretArn": master_secret, "database": database}
    rds_data.execute_statement(
        **target,
        sql="CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), ts DATETIME(3))",
    )
    answer = rds_data.batch_execute_statement(
        **target,
        sql="INSERT INTO t (name, ts) VALUES (:name, :ts)",
        parameterSets=[
            [{"name": "name", "value": {"stringValue": f"n{i}"}},
             {"name": "ts", "typeHint": "TIMESTAMP", "value": {"stringValue": f"2026-12-04 12:00:0{i}.123"}}]
            for i in range(3)
        ],
    )  # fmt: skip
    assert [r["generatedFields"] for r in answer["updateResults"]] == [[{"longValue": i}] for i in (1, 2, 3)]
    rows = rds_data.execute_statement(
        **target, sql="SELECT id, name, ts FROM t WHERE id > :id ORDER BY id", includeResultMetadata=True,
        parameters=[{"name": "id", "value": {"longValue": 1}}],
    )  # fmt: skip
    assert rows["records"] == [
        [{"longValue": 2}, {"stringValue": "n1"}, {"stringValue": "2026-12-04 12:00:01.123"}],
        [{"longValue": 3}, {"stringValue": "n2"}, {"stringValue": "2026-12-04 12:00:02.123"}],
    ]
    assert [c["typeName"] for c in rows["columnMetadata"]] == ["BIGINT", "VARCHAR", "DATETIME"]
    assert rows["numberOfRecordsUpdated"] == 0
