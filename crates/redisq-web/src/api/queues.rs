//! Queue, server, scheduler and Redis routes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde_json::json;

use super::convert;
use super::{ApiError, ApiResult, Writable, page_options};
use crate::state::AppState;

/// Days of history `GET /queues/{qname}` shows (asynqmon's).
const QUEUE_HISTORY_DAYS: usize = 10;
/// Days of history `GET /queue_stats` shows per queue (asynqmon's).
const STATS_HISTORY_DAYS: usize = 90;

/// `GET /queues`: a snapshot of every queue.
pub(crate) async fn list_queues(State(st): State<AppState>) -> ApiResult<Response> {
    let names = st.inspector.queues().await?;
    // All queues at once: the reads share one multiplexed connection, so 200 queues cost
    // about one round trip's wait instead of 200.
    let infos = join_all(names.iter().map(|q| st.inspector.queue_info(q))).await;
    let mut queues = Vec::with_capacity(infos.len());
    for info in infos {
        queues.push(convert::queue_snapshot(&info?));
    }
    Ok(Json(json!({ "queues": queues })).into_response())
}

/// `GET /queues/{qname}`: the queue now and its last ten days.
pub(crate) async fn get_queue(
    State(st): State<AppState>,
    Path(qname): Path<String>,
) -> ApiResult<Response> {
    let info = st.inspector.queue_info(&qname).await?;
    let history = st.inspector.history(&qname, QUEUE_HISTORY_DAYS).await?;
    let limits = st.inspector.limits().await?;
    Ok(Json(json!({
        "current": convert::queue_snapshot(&info),
        "history": convert::daily_stats(&history),
        "limits": convert::queue_limits(&limits, &qname),
    }))
    .into_response())
}

/// `DELETE /queues/{qname}`: only an empty queue (asynqmon does not force).
pub(crate) async fn delete_queue(
    _: Writable,
    State(st): State<AppState>,
    Path(qname): Path<String>,
) -> ApiResult<Response> {
    st.inspector.delete_queue(&qname, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /queues/{qname}:pause` and `POST /queues/{qname}:resume`, the segment split on its
/// last colon.
pub(crate) async fn queue_action(
    _: Writable,
    State(st): State<AppState>,
    Path(segment): Path<String>,
) -> ApiResult<Response> {
    // `/queues/{qname}` itself has GET and DELETE routes: another action is a wrong method.
    let (qname, action) = segment
        .rsplit_once(':')
        .ok_or_else(ApiError::method_not_allowed)?;
    match action {
        "pause" => st.inspector.pause_queue(qname).await?,
        "resume" => st.inspector.unpause_queue(qname).await?,
        _ => return Err(ApiError::method_not_allowed()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /queue_stats`: ninety days of processed and failed counts per queue.
pub(crate) async fn queue_stats(State(st): State<AppState>) -> ApiResult<Response> {
    let mut stats = BTreeMap::new();
    for q in st.inspector.queues().await? {
        let days = st.inspector.history(&q, STATS_HISTORY_DAYS).await?;
        stats.insert(q, convert::daily_stats(&days));
    }
    Ok(Json(json!({ "stats": stats })).into_response())
}

/// `GET /servers`.
pub(crate) async fn servers(State(st): State<AppState>) -> ApiResult<Response> {
    let servers: Vec<_> = st
        .inspector
        .servers()
        .await?
        .iter()
        .map(convert::server)
        .collect();
    Ok(Json(json!({ "servers": servers })).into_response())
}

/// `GET /scheduler_entries`.
pub(crate) async fn scheduler_entries(State(st): State<AppState>) -> ApiResult<Response> {
    let entries: Vec<_> = st
        .inspector
        .scheduler_entries()
        .await?
        .iter()
        .map(convert::entry)
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}

/// `GET /scheduler_entries/{entry_id}/enqueue_events`: one page, newest first.
pub(crate) async fn enqueue_events(
    State(st): State<AppState>,
    Path(entry_id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let events: Vec<_> = st
        .inspector
        .scheduler_enqueue_events(&entry_id, page_options(uri.query()))
        .await?
        .iter()
        .map(convert::enqueue_event)
        .collect();
    Ok(Json(json!({ "events": events })).into_response())
}

/// `GET /redis_info`: `INFO` of the server (on a Cluster, `CLUSTER INFO` and where each
/// queue lives).
pub(crate) async fn redis_info(State(st): State<AppState>) -> ApiResult<Response> {
    let info = st.inspector.redis_info().await?;
    let cluster = info.topology == "cluster";
    let (address, raw, locations) = if cluster {
        let address = info
            .nodes
            .iter()
            .map(|(node, _)| node.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut locations = Vec::new();
        for q in st.inspector.queues().await? {
            let keyslot = st.inspector.cluster_key_slot(&q).await?;
            let nodes: Vec<String> = st
                .inspector
                .cluster_nodes(&q)
                .await?
                .into_iter()
                .map(|n| n.addr)
                .collect();
            locations.push(json!({ "queue": q, "keyslot": keyslot, "nodes": nodes }));
        }
        (
            address,
            info.cluster_info.unwrap_or_default(),
            Some(locations),
        )
    } else {
        let (address, raw) = info.nodes.into_iter().next().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no Redis server answered",
            )
        })?;
        (address, raw, None)
    };
    Ok(Json(json!({
        "address": address,
        "info": convert::parse_redis_info(&raw),
        "raw_info": raw,
        "cluster": cluster,
        "raw_cluster_nodes": "",
        "queue_locations": locations,
    }))
    .into_response())
}
