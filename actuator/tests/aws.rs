//! Integration tests of the AWS provisioner proxy against the moto EC2 server (being written).
