"""A small workload on the real sqlite-s3vfs (apsw) against an S3 endpoint,
for tests: prints the requests boto3 sent, by the s3vfs scenario's types.

usage: s3vfs_workload.py ENDPOINT
"""

import json
import sys
import uuid

import apsw
import boto3
import sqlite_s3vfs

TYPES = {
    "GetObject": "get",
    "PutObject": "put",
    "ListObjects": "list",
    "ListObjectsV2": "list",
    "DeleteObjects": "delete",
    "DeleteObject": "delete_one",
}

s3 = boto3.resource(
    "s3",
    endpoint_url=sys.argv[1],
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
bucket = s3.create_bucket(Bucket=f"w-{uuid.uuid4().hex[:12]}")
vfs = sqlite_s3vfs.S3VFS(bucket=bucket, block_size=4096)
counts = {}


def count(event_name, **_):
    kind = TYPES.get(event_name.rsplit(".", 1)[-1], "other")
    counts[kind] = counts.get(kind, 0) + 1


s3.meta.client.meta.events.register("before-send.s3.*", count)
con = apsw.Connection("test.db", vfs=vfs.name)
run = lambda sql, args=(): list(con.cursor().execute(sql, args))  # noqa: E731
run("PRAGMA page_size=4096")
run("PRAGMA journal_mode=DELETE")
run("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
for batch in range(2):
    run("BEGIN")
    for i in range(50):
        run("INSERT INTO t(v) VALUES (randomblob(300))")
    run("COMMIT")
run("UPDATE t SET v = randomblob(10) WHERE id % 7 = 0")
run("DELETE FROM t WHERE id > 80")
run("VACUUM")
for i in range(10):
    run("SELECT length(v) FROM t WHERE id = ?", (i * 7 + 1,))
con.close()
con = apsw.Connection("test.db", vfs=vfs.name)
total = list(con.cursor().execute("SELECT count(*) FROM t"))[0][0]
con.close()
print(json.dumps({"rows": total, "requests": counts}))
