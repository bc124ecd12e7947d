//! Fault injection, throttling, timing, inspection and the control routes.

mod common;

use std::time::{Duration, Instant};

use azure_arm_fake::{FailAction, FailNext, FakeConfig, Faults, ResourceKind, Throttle};
use common::Client;
use serde_json::{Value, json};

fn only(f: Faults) -> FakeConfig {
    FakeConfig {
        faults: f,
        ..common::fast_config()
    }
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_counts_down() {
    let fake = common::start(only(Faults {
        throttle: Throttle::writes(3, 3, 1.0),
        ..Faults::default()
    }));
    let c = Client::new(&fake);
    let mut remaining = Vec::new();
    for i in 0..3 {
        let r = c
            .put(&c.rg(&format!("rg{i}")), &json!({"location": "eastus"}))
            .await;
        assert_eq!(r.status, 201);
        remaining.push(
            r.header("x-ms-ratelimit-remaining-subscription-writes")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = c.put(&c.rg("rg3"), &json!({"location": "eastus"})).await;
    assert_eq!((r.status, r.code()), (429, "SubscriptionRequestsThrottled"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1);
    assert_eq!(
        c.get(&c.rg("rg3")).await.status,
        404,
        "not applied; reads have their own budget"
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        c.put(&c.rg("rg3"), &json!({"location": "eastus"}))
            .await
            .status,
        201
    );
    assert_eq!(fake.stats().faults.throttled, 1);
    // Reads and deletes report their own budgets.
    assert!(
        c.get(&c.rg("rg0"))
            .await
            .header("x-ms-ratelimit-remaining-subscription-reads")
            .is_some()
    );
}

#[tokio::test]
async fn injected_errors_are_not_applied() {
    let fake = common::start(only(Faults {
        error_rate: 1.0,
        ..Faults::default()
    }));
    let c = Client::new(&fake);
    let r = c.put(&c.rg("rg"), &json!({"location": "eastus"})).await;
    assert_eq!((r.status, r.code()), (500, "InternalServerError"));
    fake.set_faults(Faults::default());
    assert_eq!(c.get(&c.rg("rg")).await.status, 404);
    assert_eq!(fake.stats().faults.errors, 1);
}

#[tokio::test]
async fn dropped_connections_are_not_applied_and_lost_answers_are() {
    let fake = common::start(only(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    }));
    let c = Client::new(&fake);
    let err = c
        .try_send(
            "PUT",
            &c.rg("dropped"),
            Some(&json!({"location": "eastus"})),
        )
        .await;
    assert!(err.is_err(), "the connection closes without an answer");
    fake.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    let err = c
        .try_send("PUT", &c.rg("lost"), Some(&json!({"location": "eastus"})))
        .await;
    assert!(err.is_err(), "the answer is lost");
    fake.set_faults(Faults::default());
    assert_eq!(c.get(&c.rg("dropped")).await.status, 404);
    assert_eq!(
        c.get(&c.rg("lost")).await.status,
        200,
        "a lost answer's request was applied"
    );
    let faults = fake.stats().faults;
    assert_eq!((faults.dropped, faults.lost_answers), (1, 1));
    let outcomes: Vec<String> = fake.requests().into_iter().map(|r| r.outcome).collect();
    assert!(outcomes.contains(&"dropped".to_string()) && outcomes.contains(&"lost".to_string()));
}

/// A client that retries transport errors, 5xx and 429 — the minimum a proxy must do.
async fn retrying(c: &Client, method: &str, path: &str, body: Option<&Value>) -> common::Resp {
    for _ in 0..50 {
        match c.try_send(method, path, body).await {
            Ok(r) if r.status >= 500 || r.status == 429 => {}
            Ok(r) => return r,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{method} {path} never got through");
}

#[tokio::test]
async fn twenty_percent_faults_with_retries_leave_each_resource_created_once() {
    let fake = common::start(only(Faults::mixed(0.2)));
    let c = Client::new(&fake);
    let r = retrying(&c, "PUT", &c.rg("rg"), Some(&json!({"location": "eastus"}))).await;
    assert!(matches!(r.status, 200 | 201));
    for i in 0..20 {
        let path = c.net("rg", &format!("publicIPAddresses/ip{i}"));
        let r = retrying(&c, "PUT", &path, Some(&json!({"location": "eastus"}))).await;
        // A lost 201 makes the retry an update: 200. Either way the address exists once.
        assert!(matches!(r.status, 200 | 201), "{r:?}");
    }
    let stats = fake.stats();
    assert!(stats.created_more_than_once().is_empty());
    assert_eq!(stats.created.len(), 21);
    let f = &stats.faults;
    assert!(f.errors + f.dropped + f.lost_answers > 0, "{f:?}");
    // And down again, through the same faults.
    let r = retrying(&c, "DELETE", &c.rg("rg"), None).await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    loop {
        let r = retrying(&c, "GET", &loc, None).await;
        if r.status != 202 {
            assert_eq!(r.status, 200);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        fake.resources().is_empty(),
        "0 left: {:#?}",
        fake.resources()
    );
}

#[tokio::test]
async fn the_same_seed_draws_the_same_faults() {
    let run = || async {
        let fake = common::start(FakeConfig {
            seed: 99,
            ..only(Faults::mixed(0.5))
        });
        let c = Client::new(&fake);
        for i in 0..12 {
            let _ = c.try_send("GET", &c.rg(&format!("rg{i}")), None).await;
        }
        fake.requests()
            .into_iter()
            .map(|r| r.outcome)
            .collect::<Vec<_>>()
    };
    assert_eq!(run().await, run().await);
}

#[tokio::test]
async fn latency_is_added_before_each_answer() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let mut t = fake.timing();
    t.latency = Duration::from_millis(150);
    fake.set_timing(t);
    let start = Instant::now();
    c.get(&c.rg("rg")).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn forced_failures_and_out_of_band_changes() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let nic = c.create_nic("rg", "nic", &subnet, None).await;
    c.create_vm("rg", "vm", &nic).await;
    let vm_id = c.id("rg", "Microsoft.Compute/virtualMachines/vm");

    assert!(fake.force_failed(&vm_id));
    assert_eq!(c.get(&c.vm("rg", "vm")).await.state(), "Failed");
    assert!(!fake.force_failed(&c.id("rg", "Microsoft.Compute/virtualMachines/ghost")));

    // Drift: the NIC cannot go while the VM uses it; the VM can, taking its NIC and disk along.
    let e = fake.delete_out_of_band(&nic).unwrap_err();
    assert_eq!(e.code, "NicInUse");
    fake.delete_out_of_band(&vm_id).unwrap();
    assert_eq!(c.get(&c.vm("rg", "vm")).await.status, 404);
    assert_eq!(
        c.get(&c.net("rg", "networkInterfaces/nic")).await.status,
        404
    );

    // Drift in place: a rule changed behind the client's back.
    let rule = c.net("rg", "networkSecurityGroups/nsg/securityRules/ssh");
    c.put_done(
        &c.net("rg", "networkSecurityGroups/nsg"),
        &json!({"location": "eastus"}),
    )
    .await;
    c.put_done(&rule, &json!({"properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
        "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}})).await;
    let rule_id = c.id(
        "rg",
        "Microsoft.Network/networkSecurityGroups/nsg/securityRules/ssh",
    );
    assert!(fake.update_out_of_band(&rule_id, &json!({"destinationPortRange": "2222"})));
    assert_eq!(
        c.get(&rule).await.body["properties"]["destinationPortRange"],
        "2222"
    );
    assert_eq!(
        fake.resource(&rule_id).unwrap()["properties"]["destinationPortRange"],
        "2222"
    );

    // A whole group, out of band.
    fake.delete_out_of_band(&format!("/subscriptions/{}/resourceGroups/rg", c.sub))
        .unwrap();
    assert!(fake.resources().is_empty());
}

#[tokio::test]
async fn fail_next_counts_down() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    fake.fail_next(FailNext {
        kind: ResourceKind::PublicIpAddress,
        action: FailAction::Any,
        count: 2,
        code: None,
        message: None,
    });
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = c
            .put(
                &c.net("rg", &format!("publicIPAddresses/ip{i}")),
                &json!({"location": "eastus"}),
            )
            .await;
        statuses.push(
            c.wait_async(r.header("azure-asyncoperation").unwrap())
                .await["status"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(statuses, ["Failed", "Failed", "Succeeded"]);
}

#[tokio::test]
async fn inspection_and_listing_by_tag() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    c.put(
        &c.rg("tagged"),
        &json!({"location": "eastus", "tags": {"actuator-system": "s1"}}),
    )
    .await;
    let subnet = c.create_network("rg").await;
    let tagged =
        json!({"location": "eastus", "tags": {"actuator-system": "s1", "actuator-workspace": "w"}});
    c.put_done(&c.net("rg", "publicIPAddresses/a"), &tagged)
        .await;
    c.put_done(
        &c.net("rg", "publicIPAddresses/b"),
        &json!({"location": "eastus", "tags": {"actuator-system": "s2"}}),
    )
    .await;
    c.create_nic("rg", "nic", &subnet, None).await;

    let list = |filter: &str| {
        let c = &c;
        let filter = filter.to_string();
        async move {
            let r = c
                .get(&format!(
                    "/subscriptions/{}/resources?api-version=2021-04-01&$filter={filter}",
                    c.sub
                ))
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("tagName eq 'actuator-system' and tagValue eq 's1'").await,
        ["a"]
    );
    let mut any = list("tagName eq 'ACTUATOR-SYSTEM'").await;
    any.sort();
    assert_eq!(any, ["a", "b"]);
    assert_eq!(
        list("resourceType eq 'Microsoft.Network/networkInterfaces'").await,
        ["nic"]
    );
    // Child resources are not listed; everything top level is.
    let all = c
        .get(&format!(
            "/subscriptions/{}/resourceGroups/rg/resources?api-version=2021-04-01",
            c.sub
        ))
        .await;
    let names: Vec<&str> = all.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(!names.contains(&"default"));
    let groups = c.get(&format!("/subscriptions/{}/resourcegroups?api-version=2021-04-01&$filter=tagName eq 'actuator-system' and tagValue eq 's1'", c.sub)).await;
    assert_eq!(groups.body["value"][0]["name"], "tagged");
    assert_eq!(groups.body["value"].as_array().unwrap().len(), 1);
    // Lists by type, per group and per subscription.
    let pips = c.get(&c.net("rg", "publicIPAddresses")).await;
    assert_eq!(pips.body["value"].as_array().unwrap().len(), 2);
    let subnets = c.get(&c.net("rg", "virtualNetworks/vnet/subnets")).await;
    assert_eq!(subnets.body["value"][0]["name"], "default");
    let all_nics = c.get(&format!("/subscriptions/{}/providers/Microsoft.Network/networkInterfaces?api-version=2024-03-01", c.sub)).await;
    assert_eq!(all_nics.body["value"].as_array().unwrap().len(), 1);

    // Inspection.
    let summary = fake.resources();
    assert_eq!(summary.len(), 7);
    assert_eq!(summary[0].kind, ResourceKind::ResourceGroup);
    let a = summary.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a.tags["actuator-workspace"], "w");
    assert_eq!(
        (a.resource_group.as_str(), a.provisioning_state.as_str()),
        ("rg", "Succeeded")
    );
    let stats = fake.stats();
    assert_eq!(stats.count("PUT", ResourceKind::PublicIpAddress), 2);
    assert!(stats.by_operation["GET operations"] >= 4);
    assert!(stats.created.values().all(|n| *n == 1));
}

#[tokio::test]
async fn control_routes_drive_the_same_state() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let http = common::http_for(&fake);
    let ctl = |route: &str| format!("{}/_fake/{route}", fake.arm_url());
    assert_eq!(http.get(ctl("health")).send().await.unwrap().status(), 200);
    c.create_rg("rg").await;

    let res: Value = common::json_of(http.get(ctl("resources"))).await;
    assert_eq!(res["value"][0]["kind"], "resourceGroups");
    let res: Value = common::json_of(http.get(ctl("resources?detail=true"))).await;
    assert_eq!(
        res["value"][0]["properties"]["provisioningState"],
        "Succeeded"
    );

    let r = http
        .put(ctl("faults"))
        .body(r#"{"error_rate": 1.0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(&c.rg("rg")).await.status, 500);
    http.put(ctl("faults")).body("{}").send().await.unwrap();

    let r = http.put(ctl("timing")).body(r#"{"latency_ms": 0, "lro": {"default_ms": 10, "per_kind_ms": {"virtualMachines": 20}}, "retry_after_secs": 2}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        fake.timing().lro.of(ResourceKind::VirtualMachine),
        Duration::from_millis(20)
    );

    let r = http
        .post(ctl("fail-next"))
        .body(r#"{"kind": "publicIPAddresses"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let put = c
        .put(
            &c.net("rg", "publicIPAddresses/ip"),
            &json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(put.header("retry-after"), Some("2"));
    assert_eq!(
        c.wait_async(put.header("azure-asyncoperation").unwrap())
            .await["status"],
        "Failed"
    );

    let id = c.id("rg", "Microsoft.Network/publicIPAddresses/ip");
    let r = http
        .post(ctl("update"))
        .body(json!({"id": id, "properties": {"idleTimeoutInMinutes": 9}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .post(ctl("force-failed"))
        .body(json!({"id": id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .post(ctl("delete"))
        .body(json!({"id": id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        c.get(&c.net("rg", "publicIPAddresses/ip")).await.status,
        404
    );

    let token: Value = common::json_of(http.post(ctl("token"))).await;
    let mut other = Client::new(&fake);
    other.token = token["access_token"].as_str().map(str::to_string);
    assert_eq!(other.get(&c.rg("rg")).await.status, 200);

    let stats: Value = common::json_of(http.get(ctl("stats"))).await;
    assert!(stats["requests"].as_u64().unwrap() >= 5);
    let reqs: Value = common::json_of(http.get(ctl("requests"))).await;
    assert!(
        reqs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "error")
    );
    assert_eq!(http.get(ctl("nope")).send().await.unwrap().status(), 404);
}

/// Every list pages as ARM's do: `nextLink` is the same absolute URL (query kept) plus
/// `%24skiptoken`, absent on the last page; following it yields every item exactly once, even when
/// items are created and deleted between two pages.
#[tokio::test]
async fn lists_page_through_next_link() {
    let fake = common::start(FakeConfig {
        page_size: 2,
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    let tags = json!({"actuator-system": "paged"});
    for i in 0..5 {
        c.put(
            &c.rg(&format!("rg{i}")),
            &json!({"location": "eastus", "tags": tags}),
        )
        .await;
    }
    for i in 0..5 {
        c.put_done(
            &c.net("rg0", &format!("publicIPAddresses/ip{i}")),
            &json!({"location": "eastus", "tags": tags}),
        )
        .await;
    }
    c.put_done(
        &c.net("rg0", "networkSecurityGroups/nsg"),
        &json!({"location": "eastus", "properties": {"securityRules": (0..5).map(|i| json!({
            "name": format!("r{i}"),
            "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": format!("{}", 1000 + i),
                "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow",
                "priority": 100 + i, "direction": "Inbound"}})).collect::<Vec<_>>()}}),
    )
    .await;

    /// Every page of a list: (names per page, the nextLinks seen).
    async fn pages(c: &Client, first: &str) -> (Vec<Vec<String>>, Vec<String>) {
        let (mut names, mut links) = (Vec::new(), Vec::new());
        let mut url = first.to_string();
        loop {
            let r = c.get(&url).await;
            assert_eq!(r.status, 200, "{r:?}");
            let page: Vec<String> = r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_string())
                .collect();
            names.push(page);
            match r.body.get("nextLink") {
                Some(next) => {
                    url = next.as_str().unwrap().to_string();
                    links.push(url.clone());
                }
                None => return (names, links),
            }
        }
    }
    let sub = &c.sub;
    let filter = "tagName eq 'actuator-system' and tagValue eq 'paged'";
    let lists = [
        (
            format!("/subscriptions/{sub}/resourcegroups?api-version=2021-04-01&$filter={filter}"),
            5,
        ),
        (
            format!("/subscriptions/{sub}/resources?api-version=2021-04-01&$filter={filter}"),
            5,
        ),
        (
            format!("/subscriptions/{sub}/resourceGroups/rg0/resources?api-version=2021-04-01"),
            6,
        ),
        (c.net("rg0", "publicIPAddresses"), 5),
        (
            format!(
                "/subscriptions/{sub}/providers/Microsoft.Network/publicIPAddresses?api-version=2024-03-01"
            ),
            5,
        ),
        (c.net("rg0", "networkSecurityGroups/nsg/securityRules"), 5),
    ];
    for (first, n) in lists {
        let n: usize = n;
        let (names, links) = pages(&c, &first).await;
        let sizes: Vec<usize> = names.iter().map(Vec::len).collect();
        let expected: Vec<usize> = (0..n.div_ceil(2)).map(|i| (n - 2 * i).min(2)).collect();
        assert_eq!(sizes, expected, "{first}: {names:?}");
        let mut all: Vec<String> = names.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "{first}: each item once");
        for link in &links {
            // ARM's shape: absolute, the query kept, `$skiptoken` percent-encoded.
            assert!(
                link.starts_with(&format!("{}/subscriptions/", fake.arm_url())),
                "{link}"
            );
            assert!(link.contains("api-version="), "{link}");
            assert!(link.contains("&%24skiptoken="), "{link}");
            assert_eq!(
                link.contains("%24filter="),
                first.contains("$filter="),
                "{link}"
            );
        }
    }

    // Changes between two pages: nothing that stays is repeated or skipped.
    let first = c.net("rg0", "publicIPAddresses");
    let r = c.get(&first).await;
    let seen: Vec<String> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["ip0", "ip1"], "creation order");
    c.delete_done(&c.net("rg0", "publicIPAddresses/ip0")).await;
    c.delete_done(&c.net("rg0", "publicIPAddresses/ip2")).await;
    c.put_done(
        &c.net("rg0", "publicIPAddresses/ip5"),
        &json!({"location": "eastus"}),
    )
    .await;
    let (rest, _) = pages(&c, r.body["nextLink"].as_str().unwrap()).await;
    assert_eq!(rest.concat(), ["ip3", "ip4", "ip5"]);

    // A token that is not one of ours.
    let bad = c
        .get(&format!(
            "{}&$skiptoken=!!",
            c.net("rg0", "publicIPAddresses")
        ))
        .await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidSkipToken"));
}
