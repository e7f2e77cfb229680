//! The access tables, the edge's routes and `deploy/envoy/envoy.yaml` agree:
//! every service a service crate authorises is forwarded by the edge, and
//! Envoy routes every package the edge forwards.

use std::collections::BTreeSet;

fn service_of(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// Services named by every crate's access table.
fn authorised_services() -> BTreeSet<&'static str> {
    [
        boost_ingest::ACCESS,
        boost_query::ACCESS,
        boost_processor::ACCESS,
    ]
    .iter()
    .flat_map(|table| table.iter().map(|(path, _)| service_of(path)))
    .collect()
}

#[test]
fn test_edge_forwards_every_authorised_service() {
    let forwarded: BTreeSet<&str> = boost_edge::FORWARDED.into_iter().collect();
    for service in authorised_services() {
        assert!(
            forwarded.contains(service),
            "{service} has access rules but the edge does not forward it"
        );
    }
}

#[test]
fn test_envoy_routes_every_package_the_edge_forwards() {
    let envoy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/envoy/envoy.yaml"
    ))
    .expect("read envoy.yaml");
    for service in boost_edge::FORWARDED {
        let package = service.rsplit_once('.').map_or(service, |(p, _)| p);
        let route = format!("prefix: \"/{package}.\"");
        assert!(
            envoy.contains(&route),
            "envoy.yaml has no route `{route}` for {service}"
        );
    }
}

#[test]
fn test_every_access_rule_names_a_service_path() {
    for (path, _) in boost_ingest::ACCESS
        .iter()
        .chain(boost_query::ACCESS)
        .chain(boost_processor::ACCESS)
    {
        assert!(
            path.starts_with("/boost.") && path.matches('/').count() == 2,
            "{path} is not /package.Service/ or /package.Service/Method"
        );
    }
}
