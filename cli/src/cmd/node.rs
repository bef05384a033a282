//! `mutua node` (the daemon, in this process), `mutua status`, `mutua peers`.

use anyhow::Result;
use mutua_node::config;
use mutua_node::datadir::DataDir;

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

pub fn status(ctx: &Context) -> Result<()> {
    let status = ctx.client()?.call(|api| api.status())?;
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&status)?);
    }
    let out = &ctx.out;
    let net = &status.network;
    let store = &status.store;
    out.line(format!(
        "federation  {}  (node {} up {} s)",
        status.federation, status.version, status.uptime_secs
    ))?;
    out.line(format!("peer id     {}", net.local_peer_id))?;
    // What another node gives to --bootstrap to reach this one.
    for addr in &net.listen_addrs {
        out.line(format!("address     {addr}/p2p/{}", net.local_peer_id))?;
    }
    out.line(format!(
        "peers       {} connected, {} in the federation's mesh",
        net.connected_peers, net.mesh_peers
    ))?;
    out.line(format!(
        "store       {} offers, {} needs, {} certificates, {} records in all",
        store.offers, store.needs, store.certificates, store.total
    ))?;
    if let Some(anchor) = &status.anchor_key {
        out.line(format!("anchor key  {anchor}"))?;
    }
    let rows: Vec<Vec<String>> = status
        .publishers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.key.key_id(),
                p.membership.clone(),
                p.valid_until
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
    let peers = ctx.client()?.call(|api| api.peers())?.peers;
    if ctx.out.json {
        for p in &peers {
            ctx.out.json_sorted(p)?;
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
            vec![
                p.peer_id.clone(),
                p.addresses.first().cloned().unwrap_or_default(),
                if p.in_mesh { "yes" } else { "no" }.into(),
                truncate(p.agent.as_deref().unwrap_or(""), 24),
            ]
        })
        .collect();
    Ok(ctx
        .out
        .table(&["peer", "address", "in mesh", "agent"], rows)?)
}
