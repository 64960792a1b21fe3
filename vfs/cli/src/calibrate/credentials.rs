//! AWS credentials and region, found the usual way: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`), then the shared files
//! (`AWS_SHARED_CREDENTIALS_FILE` or ~/.aws/credentials, `AWS_CONFIG_FILE`
//! or ~/.aws/config) under the profile `AWS_PROFILE` (or `default`).
//!
//! Not done: SSO, assumed roles, instance metadata and credential
//! processes. For those, `aws configure export-credentials --format env`
//! prints the variables to set (README, "Calibrating against your store").

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Credentials, and where they were found (for messages).
pub struct Found {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
    pub source: String,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn home_file(env: Env, variable: &str, name: &str) -> Option<PathBuf> {
    env(variable)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".aws").join(name)))
}

fn profile(env: Env) -> String {
    env("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

/// The sections of an INI file: name -> key -> value.
fn ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    sections
}

/// The credentials to sign with.
pub fn credentials(env: Env) -> Result<Found> {
    if let Some(key) = env("AWS_ACCESS_KEY_ID") {
        let Some(secret) = env("AWS_SECRET_ACCESS_KEY") else {
            bail!("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        };
        return Ok(Found {
            key,
            secret,
            token: env("AWS_SESSION_TOKEN"),
            source: "the environment".into(),
        });
    }
    let profile = profile(env);
    let file = home_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let text = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    let Some((file, text)) = file.zip(text) else {
        bail!("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials");
    };
    let sections = ini(&text);
    let section = sections.get(&profile).with_context(|| {
        format!(
            "no credentials: {} has no [{profile}] profile",
            file.display()
        )
    })?;
    let get = |k: &str| section.get(k).cloned();
    let (Some(key), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) else {
        bail!(
            "no credentials: the [{profile}] profile of {} has no aws_access_key_id and aws_secret_access_key",
            file.display()
        );
    };
    Ok(Found {
        key,
        secret,
        token: get("aws_session_token"),
        source: format!("{} [{profile}]", file.display()),
    })
}

/// The region to sign for: `--region`, the environment, the profile's
/// config, else us-east-1 (what S3-compatible servers usually accept).
pub fn region(given: Option<&str>, env: Env) -> String {
    if let Some(r) = given {
        return r.to_string();
    }
    if let Some(r) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return r;
    }
    let profile = profile(env);
    let section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    home_file(env, "AWS_CONFIG_FILE", "config")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|text| ini(&text).get(&section)?.get("region").cloned())
        .unwrap_or_else(|| "us-east-1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_environment_comes_first_then_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n\n[work]\naws_access_key_id=AK2\naws_secret_access_key=S2\naws_session_token=T2\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n[profile work]\nregion=ap-south-1\n",
        )
        .unwrap();
        let file = |p: &Path| p.display().to_string();
        let e = env(&[
            ("AWS_SHARED_CREDENTIALS_FILE", file(&creds)),
            ("AWS_CONFIG_FILE", file(&config)),
        ]);
        let f = credentials(&e).unwrap();
        assert_eq!(
            (f.key.as_str(), f.secret.as_str(), f.token),
            ("AK1", "S1", None)
        );
        assert_eq!(region(None, &e), "eu-west-1");
        assert_eq!(region(Some("us-west-2"), &e), "us-west-2");
        let e = env(&[
            ("AWS_SHARED_CREDENTIALS_FILE", file(&creds)),
            ("AWS_CONFIG_FILE", file(&config)),
            ("AWS_PROFILE", "work".into()),
        ]);
        let f = credentials(&e).unwrap();
        assert_eq!((f.key.as_str(), f.token.as_deref()), ("AK2", Some("T2")));
        assert_eq!(region(None, &e), "ap-south-1");
        let e = env(&[
            ("AWS_SHARED_CREDENTIALS_FILE", file(&creds)),
            ("AWS_ACCESS_KEY_ID", "AK3".into()),
            ("AWS_SECRET_ACCESS_KEY", "S3".into()),
            ("AWS_REGION", "us-east-2".into()),
        ]);
        assert_eq!(credentials(&e).unwrap().key, "AK3");
        assert_eq!(region(None, &e), "us-east-2");
    }

    #[test]
    fn missing_credentials_say_what_to_set() {
        let e = env(&[("AWS_ACCESS_KEY_ID", "AK".into())]);
        let m = credentials(&e).err().unwrap().to_string();
        assert!(m.contains("AWS_SECRET_ACCESS_KEY is not"), "{m}");
        let e = env(&[("HOME", "/nonexistent".into())]);
        let m = credentials(&e).err().unwrap().to_string();
        assert!(m.contains("set AWS_ACCESS_KEY_ID"), "{m}");
        assert_eq!(region(None, &e), "us-east-1");
    }
}
