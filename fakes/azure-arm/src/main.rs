//! `azure-arm-fake`: the ARM fake as a process, for scripts and the example.
//!
//! It writes the CA certificate to `--ca-file`, then prints one line
//! `READY arm=https://127.0.0.1:P authority=https://127.0.0.1:Q ca=PATH` on stdout (and writes the
//! same facts as JSON to `--ready-file` if given), and serves until SIGINT or SIGTERM.
//! Faults and timing can be changed while it runs through `/_fake/…` on the ARM port.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use azure_arm_fake::{ArmFake, FakeConfig, Faults, Principal, ResourceKind, Throttle, Timing};
use clap::Parser;

/// A loopback fake of Azure Resource Manager and its token endpoint.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// ARM port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Token authority port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    token_port: u16,
    /// Added before every ARM answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Duration of long-running operations, in milliseconds.
    #[arg(long, default_value_t = 100)]
    lro_ms: u64,
    /// Duration of VM creation and deletion (default: 3 × --lro-ms).
    #[arg(long)]
    vm_lro_ms: Option<u64>,
    /// Duration of resource-group deletion (default: 2 × --lro-ms).
    #[arg(long)]
    rg_delete_ms: Option<u64>,
    /// `Retry-After` seconds sent with LRO answers.
    #[arg(long, default_value_t = 0)]
    retry_after: u64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime_secs: u64,
    /// Tenant id the token endpoint accepts.
    #[arg(long, default_value_t = Principal::default().tenant_id)]
    tenant: String,
    /// Client id the token endpoint accepts.
    #[arg(long, default_value_t = Principal::default().client_id)]
    client_id: String,
    /// Client secret the token endpoint accepts (a test value; read from the environment
    /// variable AZURE_ARM_FAKE_CLIENT_SECRET when set).
    #[arg(long, env = "AZURE_ARM_FAKE_CLIENT_SECRET", default_value_t = Principal::default().client_secret, hide_env_values = true)]
    client_secret: String,
    /// Subscription ids that exist (repeatable).
    #[arg(long = "subscription", default_values_t = FakeConfig::default().subscriptions)]
    subscriptions: Vec<String>,
    /// Fraction of ARM requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction of ARM requests whose connection is closed unanswered, not applied.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Fraction of ARM requests applied and then left unanswered.
    #[arg(long, default_value_t = 0.0)]
    lost_rate: f64,
    /// Enforce a write/delete budget of this many requests (refilled at --throttle-per-sec).
    #[arg(long)]
    throttle_writes: Option<u32>,
    /// Refill rate of the enforced budget, per second.
    #[arg(long, default_value_t = 1.0)]
    throttle_per_sec: f64,
    /// Seed of the fault draw.
    #[arg(long, default_value_t = 14)]
    seed: u64,
    /// Items per page of every list (more through `nextLink`).
    #[arg(long, default_value_t = FakeConfig::default().page_size)]
    page_size: usize,
    /// Where to write the CA certificate (PEM).
    #[arg(long, default_value = "azure-arm-fake-ca.pem")]
    ca_file: PathBuf,
    /// Where to write `{"arm_url", "authority_url", "ca_file", "tenant_id", "client_id",
    /// "subscription_id"}` once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let lro = Duration::from_millis(args.lro_ms);
    let mut timing = Timing {
        latency: Duration::from_millis(args.latency_ms),
        lro: azure_arm_fake::LroDurations::uniform(lro)
            .with(
                ResourceKind::VirtualMachine,
                Duration::from_millis(args.vm_lro_ms.unwrap_or(args.lro_ms * 3)),
            )
            .with(
                ResourceKind::ResourceGroup,
                Duration::from_millis(args.rg_delete_ms.unwrap_or(args.lro_ms * 2)),
            ),
        retry_after_secs: args.retry_after,
    };
    timing.lro.default = lro;
    let throttle = match args.throttle_writes {
        Some(n) => Throttle::writes(n, n, args.throttle_per_sec),
        None => Throttle::default(),
    };
    let config = FakeConfig {
        arm_port: args.port,
        token_port: args.token_port,
        principals: vec![Principal {
            tenant_id: args.tenant.clone(),
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
        }],
        subscriptions: args.subscriptions.clone(),
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        timing,
        faults: Faults {
            error_rate: args.error_rate,
            drop_rate: args.drop_rate,
            lost_answer_rate: args.lost_rate,
            throttle,
        },
        seed: args.seed,
        page_size: args.page_size,
        ..FakeConfig::default()
    };
    let fake = match ArmFake::start(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("azure-arm-fake: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&args.ca_file, fake.ca_pem()) {
        eprintln!(
            "azure-arm-fake: cannot write {}: {e}",
            args.ca_file.display()
        );
        return ExitCode::FAILURE;
    }
    let ca = std::fs::canonicalize(&args.ca_file).unwrap_or(args.ca_file.clone());
    if let Some(path) = &args.ready_file {
        let ready = serde_json::json!({
            "arm_url": fake.arm_url(),
            "authority_url": fake.authority_url(),
            "ca_file": ca,
            "tenant_id": args.tenant,
            "client_id": args.client_id,
            "subscription_id": fake.subscription_id(),
        });
        // Written whole, then renamed, so a script polling for the file never reads half of it.
        let tmp = path.with_extension("tmp");
        if let Err(e) =
            std::fs::write(&tmp, ready.to_string()).and_then(|()| std::fs::rename(&tmp, path))
        {
            eprintln!("azure-arm-fake: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "READY arm={} authority={} ca={}",
        fake.arm_url(),
        fake.authority_url(),
        ca.display()
    );

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("azure-arm-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    });
    fake.shutdown();
    ExitCode::SUCCESS
}
