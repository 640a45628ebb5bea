//! `/redis`: `INFO` of every Redis server behind the inspector.
//!
//! Nothing here prints the connection settings: nodes are named by the address the library
//! reports (any `user:password@` part removed), and `INFO` fields whose name mentions a
//! password or auth are left out.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::html::Esc;
use super::{Ctx, Nav};
use crate::state::AppState;

/// The fields shown at the top of each node.
const HIGHLIGHTS: [(&str, &str); 10] = [
    ("redis_version", "Version"),
    ("redis_mode", "Mode"),
    ("role", "Role"),
    ("uptime_in_days", "Uptime (days)"),
    ("connected_clients", "Clients"),
    ("used_memory_human", "Memory used"),
    ("used_memory_peak_human", "Memory peak"),
    ("maxmemory_human", "Memory limit"),
    ("maxmemory_policy", "Eviction policy"),
    ("instantaneous_ops_per_sec", "Ops/s"),
];

/// Whether an `INFO` field or node name could reveal a secret.
fn secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("pass") || k.contains("auth")
}

/// A node name without any credentials.
pub(crate) fn node_name(label: &str) -> String {
    let (scheme, rest) = match label.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), label),
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}{rest}")
}

/// `(section, [(key, value)])` of an `INFO` text, secrets left out.
fn parse(info: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in info.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('#') {
            out.push((section.trim().to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once(':') {
            if secret(k) {
                continue;
            }
            if out.is_empty() {
                out.push((String::new(), Vec::new()));
            }
            if let Some(last) = out.last_mut() {
                last.1.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

/// `GET /redis`.
pub(crate) async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let info = match st.inspector.redis_info().await {
        Ok(i) => i,
        Err(e) => return ctx.failure("Could not read Redis INFO", &e),
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Redis</h1><p>Topology: <strong>{}</strong> · {} node(s)</p>",
        Esc(info.topology),
        info.nodes.len()
    );
    for (label, text) in &info.nodes {
        let sections = parse(text);
        let get = |key: &str| {
            sections
                .iter()
                .flat_map(|(_, kv)| kv.iter())
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let _ = write!(
            body,
            "<h2 class=\"mono\">{}</h2><div class=\"cards\">",
            Esc(&node_name(label))
        );
        for (key, name) in HIGHLIGHTS {
            if let Some(v) = get(key) {
                let _ = write!(
                    body,
                    "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
                    Esc(name),
                    Esc(v)
                );
            }
        }
        body.push_str("</div><details><summary>Full INFO</summary>");
        for (section, kv) in &sections {
            if kv.is_empty() {
                continue;
            }
            let _ = write!(
                body,
                "<h3>{}</h3><div class=\"tablewrap\"><table class=\"kv\"><tbody>",
                Esc(section)
            );
            for (k, v) in kv {
                let _ = write!(
                    body,
                    "<tr><th class=\"mono\">{}</th><td class=\"mono\">{}</td></tr>",
                    Esc(k),
                    Esc(v)
                );
            }
            body.push_str("</tbody></table></div>");
        }
        body.push_str("</details>");
    }
    if let Some(cluster) = &info.cluster_info {
        let _ = write!(
            body,
            "<h2>CLUSTER INFO</h2><pre class=\"data\">{}</pre>",
            Esc(cluster)
        );
    }
    ctx.layout("Redis", Nav::Redis, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed() {
        assert_eq!(node_name("redis://u:pw@h:1"), "redis://h:1");
        assert_eq!(node_name("h:1"), "h:1");
        let p = parse("# Server\r\nredis_version:7.2\r\nmasterauth:x\r\n");
        assert_eq!(
            p,
            vec![(
                "Server".into(),
                vec![("redis_version".into(), "7.2".into())]
            )]
        );
    }
}
