//! `mutua web user add`: invite a member of staff to the node's web page.

use anyhow::Result;
use mutua_api::WebUserRequest;

use super::Context;
use crate::args::{WebCommand, WebUserArgs, WebUserCommand};

pub fn run(ctx: &Context, command: WebCommand) -> Result<()> {
    match command {
        WebCommand::User(WebUserCommand::Add(args)) => add(ctx, args),
    }
}

fn add(ctx: &Context, args: WebUserArgs) -> Result<()> {
    let request = WebUserRequest {
        name: args.name,
        login: args.login,
        collectivities: args.collectivity,
    };
    let invitation = ctx.client()?.call(|api| api.add_web_user(&request))?;
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&invitation)?);
    }
    let out = &ctx.out;
    out.line(format!(
        "login {} for {}",
        invitation.login,
        invitation.collectivities.join(", ")
    ))?;
    match &invitation.url {
        Some(url) => out.line(format!("invitation link (good once, for 7 days): {url}"))?,
        None => out.line(format!(
            "invitation path (the node serves no web page: set web.listen): {}",
            invitation.path
        ))?,
    }
    Ok(())
}
