//! `mutua node` (the daemon, in this process), `mutua status`, `mutua peers`.

use anyhow::Result;
use mutua_node::config;
use mutua_node::datadir::DataDir;
use serde_json::Value;

use super::Context;
use crate::args::NodeArgs;
use crate::output::truncate;

pub fn run(ctx: &Context, args: NodeArgs) -> Result<()> {
    let root = args
        .overrides
        .data_dir
        .clone()
        .unwrap_or_else(|| ctx.data_dir.clone());
    let dir = DataDir::open(&root)?;
    let settings = config::load_settings(&args.overrides, &dir.config_path())?;
    config::init_logs(&settings)?;
    Ok(mutua_node::daemon::run_blocking(settings, dir)?)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn status(ctx: &Context) -> Result<()> {
    let status: Value = ctx.client()?.get("/v1/status", &[])?;
    if ctx.out.json {
        return Ok(ctx.out.json_line(&status)?);
    }
    let out = &ctx.out;
    let net = &status["network"];
    let store = &status["store"];
    out.line(format!(
        "federation  {}  (node {} up {} s)",
        text(&status["federation"]),
        text(&status["version"]),
        text(&status["uptime_secs"])
    ))?;
    out.line(format!("peer id     {}", text(&net["local_peer_id"])))?;
    // What another node gives to --bootstrap to reach this one.
    for addr in net["listen_addrs"].as_array().into_iter().flatten() {
        out.line(format!(
            "address     {}/p2p/{}",
            text(addr),
            text(&net["local_peer_id"])
        ))?;
    }
    out.line(format!(
        "peers       {} connected, {} in the federation's mesh",
        text(&net["connected_peers"]),
        text(&net["mesh_peers"])
    ))?;
    out.line(format!(
        "store       {} offers, {} needs, {} certificates, {} records in all",
        text(&store["offers"]),
        text(&store["needs"]),
        text(&store["certificates"]),
        text(&store["total"])
    ))?;
    if let Some(anchor) = status["anchor_key"].as_str() {
        out.line(format!("anchor key  {anchor}"))?;
    }
    let rows: Vec<Vec<String>> = status["publishers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                text(&p["name"]),
                text(&p["key"]),
                text(&p["membership"]),
                p["valid_until"]
                    .as_u64()
                    .map(crate::dates::format_date)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.line("no hosted publisher: add one with `mutua key add --collectivity <code>`")?;
    } else {
        out.line("")?;
        out.table(&["publisher", "key", "membership", "valid until"], rows)?;
    }
    Ok(())
}

pub fn peers(ctx: &Context) -> Result<()> {
    let answer: Value = ctx.client()?.get("/v1/peers", &[])?;
    let peers = answer["peers"].as_array().cloned().unwrap_or_default();
    if ctx.out.json {
        for p in &peers {
            ctx.out.json_line(p)?;
        }
        return Ok(());
    }
    if peers.is_empty() {
        return Ok(ctx.out.line(
            "no peer connected (check network.bootstrap in config.toml, or mdns on the local network)",
        )?);
    }
    let rows = peers
        .iter()
        .map(|p| {
            let first_addr = p["addresses"].get(0).map(text).unwrap_or_default();
            vec![
                text(&p["peer_id"]),
                first_addr,
                if p["in_mesh"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                truncate(&text(&p["agent"]), 24),
            ]
        })
        .collect();
    Ok(ctx
        .out
        .table(&["peer", "address", "in mesh", "agent"], rows)?)
}
