//! Request URLs → routes. ARM compares every segment case-insensitively and SDKs send both
//! `resourcegroups` and `resourceGroups`, so matching ignores case and keeps the caller's spelling
//! of names.

use crate::ResourceKind;

/// What a request URL addresses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Route {
    /// `/subscriptions/{s}/resourcegroups`
    ResourceGroups { sub: String },
    /// `/subscriptions/{s}/resourcegroups/{rg}`
    ResourceGroup { sub: String, rg: String },
    /// `/subscriptions/{s}/resources`
    SubscriptionResources { sub: String },
    /// `/subscriptions/{s}/resourceGroups/{rg}/resources`
    GroupResources { sub: String, rg: String },
    /// `/subscriptions/{s}/providers/{ns}/{type}`: every resource of a type in the subscription.
    SubscriptionList { sub: String, kind: ResourceKind },
    /// A typed resource or collection under a resource group.
    Resource(ResourcePath),
    /// `/subscriptions/{s}/providers/Microsoft.Network/locations/{r}/operations|operationResults/{id}`
    /// and the Compute equivalent (`…/Microsoft.Compute/locations/{r}/operations/{id}`).
    Operation {
        sub: String,
        id: String,
        /// `operationResults` (the Location URL) rather than `operations`.
        result: bool,
    },
    /// `/subscriptions/{s}/operationresults/{token}` (resource-group deletion).
    GroupOperation { sub: String, token: String },
}

/// A resource, or a collection of them, below a resource group.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResourcePath {
    pub sub: String,
    pub rg: String,
    pub kind: ResourceKind,
    /// For a child kind, the parent's name.
    pub parent: Option<String>,
    /// `None` addresses the collection.
    pub name: Option<String>,
    /// `…/virtualMachines/{vm}/instanceView`.
    pub instance_view: bool,
    /// `…/networkSecurityGroups/{nsg}/defaultSecurityRules[/{name}]` (read-only).
    pub default_rules: bool,
}

/// Why a path is not a route.
#[derive(Debug, PartialEq)]
pub(crate) enum RouteError {
    /// No such URL shape.
    NoRoute,
    /// A well-formed provider path naming a type the fake does not serve.
    UnknownType { namespace: String, segment: String },
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Splits and percent-decodes a path (`+` stays a plus: this is a path, not a form).
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Parses a request path.
pub(crate) fn parse(path: &str) -> Result<Route, RouteError> {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    if s.len() < 2 || !eq(s[0], "subscriptions") {
        return Err(RouteError::NoRoute);
    }
    let sub = s[1].to_string();
    let rest = &s[2..];
    match rest {
        [] => Err(RouteError::NoRoute),
        [rgs] if eq(rgs, "resourcegroups") => Ok(Route::ResourceGroups { sub }),
        [res] if eq(res, "resources") => Ok(Route::SubscriptionResources { sub }),
        [op, token] if eq(op, "operationresults") => Ok(Route::GroupOperation {
            sub,
            token: token.to_string(),
        }),
        [rgs, rg] if eq(rgs, "resourcegroups") => Ok(Route::ResourceGroup {
            sub,
            rg: rg.to_string(),
        }),
        [rgs, rg, res] if eq(rgs, "resourcegroups") && eq(res, "resources") => {
            Ok(Route::GroupResources {
                sub,
                rg: rg.to_string(),
            })
        }
        [p, ns, loc, _region, ops, id]
            if eq(p, "providers")
                && (eq(ns, "Microsoft.Network") || eq(ns, "Microsoft.Compute"))
                && eq(loc, "locations")
                && (eq(ops, "operations") || eq(ops, "operationResults")) =>
        {
            Ok(Route::Operation {
                sub,
                id: id.to_string(),
                result: eq(ops, "operationResults"),
            })
        }
        [p, ns, ty] if eq(p, "providers") => match ResourceKind::top_level(ns, ty) {
            Some(kind) => Ok(Route::SubscriptionList { sub, kind }),
            None => Err(unknown(ns, ty)),
        },
        [rgs, rg, p, ns, ty, tail @ ..] if eq(rgs, "resourcegroups") && eq(p, "providers") => {
            let Some(kind) = ResourceKind::top_level(ns, ty) else {
                return Err(unknown(ns, ty));
            };
            let base = ResourcePath {
                sub,
                rg: rg.to_string(),
                kind,
                parent: None,
                name: None,
                instance_view: false,
                default_rules: false,
            };
            match tail {
                [] => Ok(Route::Resource(base)),
                [name] => Ok(Route::Resource(ResourcePath {
                    name: Some(name.to_string()),
                    ..base
                })),
                [name, iv] if kind == ResourceKind::VirtualMachine && eq(iv, "instanceView") => {
                    Ok(Route::Resource(ResourcePath {
                        name: Some(name.to_string()),
                        instance_view: true,
                        ..base
                    }))
                }
                [parent, dr, rest @ ..]
                    if kind == ResourceKind::NetworkSecurityGroup
                        && eq(dr, "defaultSecurityRules")
                        && rest.len() <= 1 =>
                {
                    Ok(Route::Resource(ResourcePath {
                        kind: ResourceKind::SecurityRule,
                        parent: Some(parent.to_string()),
                        name: rest.first().map(|n| n.to_string()),
                        default_rules: true,
                        ..base
                    }))
                }
                [parent, child, rest @ ..] if rest.len() <= 1 => match kind.child(child) {
                    Some(child_kind) => Ok(Route::Resource(ResourcePath {
                        kind: child_kind,
                        parent: Some(parent.to_string()),
                        name: rest.first().map(|n| n.to_string()),
                        ..base
                    })),
                    None => Err(unknown(kind.arm_type(), child)),
                },
                _ => Err(RouteError::NoRoute),
            }
        }
        _ => Err(RouteError::NoRoute),
    }
}

fn unknown(ns: &str, ty: &str) -> RouteError {
    RouteError::UnknownType {
        namespace: ns.to_string(),
        segment: ty.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_routes_ignore_case() {
        assert_eq!(
            parse("/subscriptions/s/resourcegroups/RG1"),
            Ok(Route::ResourceGroup {
                sub: "s".into(),
                rg: "RG1".into()
            })
        );
        assert_eq!(
            parse("/SUBSCRIPTIONS/s/resourceGroups/RG1"),
            parse("/subscriptions/s/resourcegroups/RG1")
        );
    }

    #[test]
    fn nested_and_special_routes() {
        let Ok(Route::Resource(p)) = parse(
            "/subscriptions/s/resourceGroups/rg/providers/microsoft.network/VIRTUALNETWORKS/v/subnets/a%20b",
        ) else {
            panic!("not a resource route")
        };
        assert_eq!(p.kind, ResourceKind::Subnet);
        assert_eq!(p.parent.as_deref(), Some("v"));
        assert_eq!(p.name.as_deref(), Some("a b"));

        let Ok(Route::Resource(p)) = parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/instanceView",
        ) else {
            panic!("not a resource route")
        };
        assert!(p.instance_view);

        assert_eq!(
            parse(
                "/subscriptions/s/providers/Microsoft.Network/locations/eastus/operationResults/x"
            ),
            Ok(Route::Operation {
                sub: "s".into(),
                id: "x".into(),
                result: true
            })
        );
        assert!(matches!(
            parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"
            ),
            Err(RouteError::UnknownType { .. })
        ));
        assert_eq!(parse("/foo"), Err(RouteError::NoRoute));
    }
}
