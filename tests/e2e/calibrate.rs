//! `vfscope calibrate net`: round trips to a real TCP listener, printed as
//! the network presets' parameters, a model file and JSON; one-line errors.

use std::process::Command;
use vfscope_tests::moto::Moto;
use vfscope_tests::programs::moto_bin;
use vfscope_tests::{built, succeeds};

#[test]
fn calibrate_net_prints_the_latency_argument_and_writes_a_model() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (json, model) = (dir.path().join("net.json"), dir.path().join("net.toml"));
    let out = succeeds(
        Command::new(built("vfscope"))
            .args(["calibrate", "net", &format!("127.0.0.1:{port}")])
            .args(["--count", "30", "--interval", "0", "--json"])
            .arg(&json)
            .arg("-o")
            .arg(&model),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The last line is a --latency argument with both parameters measured.
    let last = stdout.lines().last().unwrap();
    let (preset, params) = last.split_once(':').unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        ["same-az", "cross-az", "cross-region"].contains(&preset),
        "{last}"
    );
    assert!(
        params.starts_with("rtt=") && params.contains(",rtt_p99="),
        "{last}"
    );
    vfscope_model::load(last).unwrap_or_else(|e| panic!("{last}: {e}"));
    // Every measurement in the JSON, positive.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["samples_ns"].as_array().unwrap().len(), 30);
    for field in ["p50_ns", "p90_ns", "p99_ns"] {
        assert!(report[field].as_u64().unwrap() > 0, "{field}: {report}");
    }
    assert!(report["p50_ns"].as_u64() <= report["p99_ns"].as_u64());
    assert_eq!(report["nearest"], last);
    // The model file is taken wherever a model is: by `vfscope run`.
    let db = dir.path().join("m.db");
    succeeds(
        Command::new(built("vfscope"))
            .args(["run", "--quiet", "--latency"])
            .arg(&model)
            .args(["--", "sqlite3"])
            .arg(&db)
            .arg("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .env_remove("VFSCOPE_DIR"),
    );
    drop(listener);
}

#[test]
fn calibrate_net_errors_are_one_line_and_exit_2() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (endpoint, says) in [
        (format!("127.0.0.1:{port}"), "cannot connect to"),
        ("no-port-here".to_string(), "is not HOST:PORT"),
    ] {
        let out = Command::new(built("vfscope"))
            .args(["calibrate", "net", &endpoint, "--count", "3"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// `vfscope calibrate s3` with test credentials against `moto`.
fn calibrate_s3(moto: &Moto, args: &[&str]) -> std::process::Output {
    Command::new(built("vfscope"))
        .args(["calibrate", "s3", "--endpoint", &moto.endpoint])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[test]
fn calibrate_s3_measures_every_cost_against_moto_and_leaves_nothing_behind() {
    let moto = Moto::start(&[]);
    moto.boto3("test", "test", "s3.create_bucket(Bucket='calib')");
    let dir = tempfile::tempdir().unwrap();
    let (json, model) = (dir.path().join("s3.json"), dir.path().join("s3.toml"));
    let out = calibrate_s3(
        &moto,
        &[
            "--bucket",
            "calib",
            "--rounds",
            "4",
            "--list-keys",
            "0,10,40",
            "--block",
            "8KiB",
            "--client",
            "2ms",
            "--json",
            json.to_str().unwrap(),
            "-o",
            model.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last line is the s3vfs argument with every cost measured.
    let last = stdout.lines().last().unwrap();
    let loaded = vfscope_model::load(last).unwrap_or_else(|e| panic!("{last}: {e}"));
    let remote = loaded.remote.expect("s3vfs is a request-level scenario");
    assert_eq!(remote.block, 8192);
    assert_eq!(remote.client_ns, 2e6);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["latency"], last);
    for name in [
        "rtt",
        "get",
        "get_p99",
        "get_miss",
        "get_miss_p99",
        "put",
        "put_p99",
        "list",
        "list_p99",
        "list_key",
        "delete",
        "delete_p99",
        "delete_one",
        "delete_one_p99",
    ] {
        let value = report["parameters"][name]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {report}"));
        let d = vfscope_model::parse_duration(value).unwrap();
        assert!(d > std::time::Duration::ZERO, "{name} = {value}");
        assert!(last.contains(&format!("{name}={value}")), "{name}: {last}");
    }
    // Each measurement has its rounds' samples, p50 <= p99, positive.
    let check = |m: &serde_json::Value, what: &str| {
        let samples = m["samples_ns"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {m}"));
        assert!(samples.len() >= 4, "{what}: {m}");
        assert!(m["p50_ns"].as_u64().unwrap() > 0, "{what}: {m}");
        assert!(m["p50_ns"].as_u64() <= m["p99_ns"].as_u64(), "{what}: {m}");
    };
    for key in ["get", "get_miss", "delete_one", "delete_many"] {
        check(&report[key], key);
    }
    check(&report["round_trip"]["tcp_connect"], "tcp connect");
    check(&report["round_trip"]["continue"], "100 Continue");
    let puts: Vec<u64> = report["put"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            check(p, "put");
            p["bytes"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(puts, [1024, 8192, 65536, 1048576]);
    let lists: Vec<u64> = report["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            check(l, "list");
            l["keys"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lists, [0, 10, 40]);
    assert!(
        report["list_fit"]["per_key_ns"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // Nothing left: the bucket is empty again (seen by boto3).
    assert_eq!(
        moto.boto3(
            "test",
            "test",
            "print(s3.list_objects_v2(Bucket='calib').get('KeyCount'))"
        ),
        "0"
    );
    // The model file is taken wherever a model is.
    let from_file = vfscope_model::load(model.to_str().unwrap()).unwrap();
    assert_eq!(from_file.remote.unwrap().block, 8192);
    // Without --bucket, a scratch bucket is made and removed.
    let out = calibrate_s3(&moto, &["--rounds", "2", "--list-keys", "0,5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        moto.boto3(
            "test",
            "test",
            "print([b['Name'] for b in s3.list_buckets()['Buckets']])"
        ),
        "['calib']"
    );
}

#[test]
fn calibrate_s3_errors_are_one_line_and_exit_2() {
    // moto checking signatures: IAM enforced after the first 4 actions,
    // which make a user, its key, its policy and a bucket.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let keys = moto.boto3(
        "test",
        "test",
        "iam.create_user(UserName='cal')\nk = iam.create_access_key(UserName='cal')['AccessKey']\niam.put_user_policy(UserName='cal', PolicyName='s3', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))\nboto3.client('s3', endpoint_url=kw['endpoint_url'], aws_access_key_id=k['AccessKeyId'], aws_secret_access_key=k['SecretAccessKey'], region_name='us-east-1').create_bucket(Bucket='calib')\nprint(k['AccessKeyId'], k['SecretAccessKey'])",
    );
    let (key, secret) = keys.split_once(' ').unwrap();
    let calibrate = |endpoint: &str, key: &str, secret: &str, bucket: &str| {
        Command::new(built("vfscope"))
            .args([
                "calibrate",
                "s3",
                "--endpoint",
                endpoint,
                "--bucket",
                bucket,
            ])
            .args(["--rounds", "2", "--list-keys", "0,2"])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .unwrap()
    };
    // The right key works: the signature is checked and accepted.
    let out = calibrate(&moto.endpoint, key, secret, "calib");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let closed = format!("http://127.0.0.1:{}", vfscope_tests::free_port());
    for (endpoint, key, secret, bucket, says) in [
        (
            closed.as_str(),
            key,
            secret,
            "calib",
            "cannot reach the S3 endpoint",
        ),
        (
            moto.endpoint.as_str(),
            key,
            secret,
            "nosuch",
            "does not exist",
        ),
        (
            moto.endpoint.as_str(),
            "AKIANOSUCHKEY",
            secret,
            "calib",
            "InvalidAccessKeyId",
        ),
        (
            moto.endpoint.as_str(),
            key,
            "not-the-secret",
            "calib",
            "SignatureDoesNotMatch",
        ),
    ] {
        let out = calibrate(endpoint, key, secret, bucket);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{says}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        if says.contains("Signature") || says.contains("KeyId") {
            assert!(stderr.contains("refused the credentials"), "{stderr}");
        }
    }
    let out = Command::new(built("vfscope"))
        .args(["calibrate", "s3", "--endpoint", "ftp://x", "--rounds", "2"])
        .env("AWS_ACCESS_KEY_ID", "a")
        .env("AWS_SECRET_ACCESS_KEY", "b")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (out.status.code(), stderr.lines().count()),
        (Some(2), 1),
        "{stderr}"
    );
    assert!(stderr.contains("http or https"), "{stderr}");
}

/// The real sqlite-s3vfs against moto, recorded under `vfscope run`: the
/// scenario's requests for the recorded calls are the ones boto3 sent, by
/// type, and `--client-from` finds the client's own time in them.
#[test]
fn the_real_sqlite_s3vfs_recorded_gives_its_exact_requests_and_its_client_time() {
    let moto = Moto::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("real.trace");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/s3vfs_workload.py");
    let out = Command::new(built("vfscope"))
        .args(["run", "--quiet", "--dir"])
        .arg(dir.path().join("segments"))
        .arg("--record")
        .arg(&trace)
        .arg("--")
        .arg(moto_bin().join("python"))
        .arg(&script)
        .arg(&moto.endpoint)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(real["rows"], 80, "{real}");
    let json = dir.path().join("cal.json");
    let out = calibrate_s3(
        &moto,
        &[
            "--rounds",
            "3",
            "--list-keys",
            "0,5",
            "--client-from",
            trace.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let real_total: u64 = real["requests"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let client = &cal["client"];
    assert_eq!(client["requests"], real_total, "{client} vs {real}");
    // Its time: what the recorded calls took beyond what the requests as
    // measured now explain (0 if the store was slower now than then, as
    // on a loaded machine: that is measurement, not checked here).
    let (recorded, explained) = (
        client["recorded_ns"].as_f64().unwrap(),
        client["explained_ns"].as_f64().unwrap(),
    );
    assert!(recorded > 0.0 && explained > 0.0, "{client}");
    let per = ((recorded - explained) / real_total as f64).max(0.0);
    assert!(
        (client["ns"].as_f64().unwrap() - per).abs() < 1.0,
        "{client}"
    );
    assert!(
        cal["latency"].as_str().unwrap().contains(",client="),
        "{cal}"
    );
    // The recording replayed under the calibrated scenario: the requests,
    // type by type, are the ones sent; and a drawn model gives a range.
    let replayed = dir.path().join("replay.json");
    let out = succeeds(
        Command::new(built("vfscope"))
            .args(["replay"])
            .arg(&trace)
            .args(["--latency", cal["latency"].as_str().unwrap(), "--json"])
            .arg(&replayed),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&replayed).unwrap()).unwrap();
    for (kind, count) in real["requests"].as_object().unwrap() {
        assert_eq!(&r["requests"][kind], count, "{kind}: {r} vs {real}");
    }
    let range = r["predicted_range_ns"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    let (lo, hi) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
    assert!(lo <= hi, "{r}");
    assert!(text.contains("range over 20 seeds"), "{text}");
}
