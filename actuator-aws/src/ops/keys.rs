//! Key pairs: created (their private key kept in memory or a 0600 file), imported from a public
//! key, or reused by name.

use std::path::Path;

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{self as t, Filter, KeyType, ResourceType, Tag, TagSpecification};

use super::op::{Op, fatal, s};
use crate::api::{Api, AwsError, Policy};
use crate::client::Caller;
use crate::find::{Tagged, tag};
use crate::resources::KeyPair;
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};
use actuator::secret::Secret;

/// Marks a key pair to keep on teardown even when its record was lost.
const RETAIN_TAG: &str = "actuator:retain";

impl Tagged for t::KeyPairInfo {
    const KIND: &'static str = KeyPair::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeKeyPairs",
                c.ec2.describe_key_pairs().set_filters(Some(filters)).send(),
            )
            .await?;
        Ok(r.key_pairs().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    /// By name: EC2 (and moto, silently) ignores a delete by id alone in places.
    fn id_of(&self) -> Option<&str> {
        self.key_name()
    }
    fn retained(&self) -> bool {
        tag(self.tags(), RETAIN_TAG) == Some("true")
    }
}

/// Writes private key material to `path`, mode 0600, atomically (a temp file renamed over it).
fn write_private_key(path: &Path, material: &Secret) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut f = tempfile::Builder::new()
        .prefix(".actuator-key")
        .tempfile_in(&dir)?;
    f.write_all(material.expose().as_bytes())?;
    f.as_file().sync_all()?;
    f.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(super) async fn create_key_pair(
    op: &Op<'_>,
    _: &ProvisionCx,
    v: KeyPair,
) -> Result<Outputs, AttemptError> {
    let px = op.px;
    let public = match &v.public_key_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            fatal(format!(
                "{}: cannot read public key file {}: {e}",
                op.path,
                p.display()
            ))
        })?),
        None => None,
    };
    // EC2 hands out a created pair's private key once. A pair of ours whose private key was lost
    // (a crash or a lost answer between the create and writing the key) is useless, and nothing
    // uses it yet (instances are created after it is recorded): it is deleted and made again.
    let lost = || {
        public.is_none()
            && v.private_key_file.as_ref().is_some_and(|f| {
                !f.exists()
                    && match px.private_key(&op.path) {
                        Some(k) => write_private_key(f, &k).is_err(),
                        None => true,
                    }
            })
    };
    let delete = |name: String| async move {
        tracing::warn!(path = %op.path, "re-creating a key pair whose private key was lost");
        op.remove(Policy::Basic, "delete", "DeleteKeyPair", || {
            op.ec2().delete_key_pair().key_name(&name).send()
        })
        .await
    };
    for _ in 0..3 {
        // Ours from an interrupted run?
        if let Some(k) = op.find::<t::KeyPairInfo>().await? {
            if !lost() {
                return Ok(key_outputs(op, &k, v.retain_on_reverse));
            }
            delete(s(k.key_name())).await?;
        }
        let name = if v.ensure_unique {
            format!("{}-{:08x}", op.display, rand::random::<u32>())
        } else {
            op.display.clone()
        };
        if !v.ensure_unique {
            let existing = op
                .retry(
                    Policy::Basic,
                    &format!("look up key pair {name}"),
                    || async {
                        match op
                            .call(
                                Api::Describe,
                                "DescribeKeyPairs",
                                op.ec2().describe_key_pairs().key_names(&name).send(),
                            )
                            .await
                        {
                            Ok(r) => Ok(r.key_pairs().first().cloned()),
                            Err(e) if e.is_not_found() => Ok(None),
                            Err(e) => Err(e),
                        }
                    },
                )
                .await?;
            if let Some(k) = existing {
                if public.is_some() {
                    return Err(fatal(format!(
                        "{}: key pair `{name}` already exists in {}; drop public_key_file to \
                         reuse it, or set ensure_unique",
                        op.path,
                        op.region()
                    )));
                }
                // Not this system's: reused, and kept on teardown.
                return Ok(key_outputs(op, &k, true));
            }
        }
        let mut ts = op.tag_spec(ResourceType::KeyPair);
        if v.retain_on_reverse {
            // So that a `down` after a crash, with nothing recorded, keeps it too.
            ts = TagSpecification::builder()
                .resource_type(ResourceType::KeyPair)
                .set_tags(Some(op.tags()))
                .tags(Tag::builder().key(RETAIN_TAG).value("true").build())
                .build();
        }
        let (k, created) = op
            .find_or_create(Policy::Basic, || async {
                let info = |name: Option<&str>, id: Option<&str>, fp: Option<&str>| {
                    t::KeyPairInfo::builder()
                        .set_key_name(name.map(str::to_owned))
                        .set_key_pair_id(id.map(str::to_owned))
                        .set_key_fingerprint(fp.map(str::to_owned))
                        .build()
                };
                if let Some(material) = &public {
                    let r = op
                        .call(
                            Api::Mutating,
                            "ImportKeyPair",
                            op.ec2()
                                .import_key_pair()
                                .key_name(&name)
                                .public_key_material(Blob::new(material.clone()))
                                .tag_specifications(ts.clone())
                                .send(),
                        )
                        .await?;
                    return Ok(info(r.key_name(), r.key_pair_id(), r.key_fingerprint()));
                }
                let r = op
                    .call(
                        Api::Mutating,
                        "CreateKeyPair",
                        op.ec2()
                            .create_key_pair()
                            .key_name(&name)
                            .set_key_type(v.key_type.as_deref().map(KeyType::from))
                            .tag_specifications(ts.clone())
                            .send(),
                    )
                    .await?;
                if let Some(m) = r.key_material() {
                    let secret = Secret::new(m);
                    if let Some(path) = &v.private_key_file {
                        write_private_key(path, &secret).map_err(|e| {
                            AwsError::local(
                                "CreateKeyPair",
                                format!("cannot write the private key to {}: {e}", path.display()),
                            )
                        })?;
                    }
                    px.keep_private_key(&op.path, secret);
                }
                Ok(info(r.key_name(), r.key_pair_id(), r.key_fingerprint()))
            })
            .await?;
        if created || !lost() {
            return Ok(key_outputs(op, &k, v.retain_on_reverse));
        }
        // The answer with the private key was lost: found by its tag, unusable.
        delete(s(k.key_name())).await?;
    }
    Err(fatal(format!(
        "{}: could not create a key pair and keep its private key in 3 attempts",
        op.path
    )))
}

fn key_outputs(op: &Op<'_>, k: &t::KeyPairInfo, retain: bool) -> Outputs {
    op.outputs([
        ("key_name", s(k.key_name())),
        ("id", s(k.key_pair_id())),
        ("fingerprint", s(k.key_fingerprint())),
        ("retain", retain.to_string()),
    ])
}

pub(super) async fn delete_key_pair(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    if rec.outputs.get("retain").map(String::as_str) == Some("true") {
        return Ok(());
    }
    let Some(name) = op
        .recorded_or_found::<t::KeyPairInfo>(rec, "key_name")
        .await?
    else {
        return Ok(());
    };
    op.remove(Policy::Basic, "delete", "DeleteKeyPair", || {
        op.ec2().delete_key_pair().key_name(&name).send()
    })
    .await?;
    op.px.forget_private_key(&rec.key);
    Ok(())
}
