//! The AWS provisioner proxy (being written).
pub use aws_sdk_ec2 as ec2;
