//! `redisq group`: the aggregation groups of a queue.

use clap::{Args, Subcommand};

use crate::conn::Conn;
use crate::error::{CliResult, Subject, from_redisq};
use crate::json;
use crate::output::{Table, emit, print_json};

/// `redisq group …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum GroupCmd {
    /// List the groups of a queue and how many tasks wait in each
    #[command(visible_alias = "list")]
    Ls(GroupLsArgs),
}

/// Arguments of `group ls`.
#[derive(Clone, Debug, Args)]
pub(crate) struct GroupLsArgs {
    /// Queue name
    #[arg(short = 'q', long)]
    pub(crate) queue: String,
    /// Print JSON: an array of {queue, group, size}
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(conn: &Conn, cmd: &GroupCmd) -> CliResult {
    let GroupCmd::Ls(a) = cmd;
    let inspector = conn.inspector().await?;
    let groups = inspector.groups(&a.queue).await.map_err(|e| {
        from_redisq(
            &e,
            &format!("could not list the groups of queue {:?}", a.queue),
            Subject::Queue(&a.queue),
        )
    })?;
    if a.json {
        let list: Vec<json::Group> = groups
            .iter()
            .map(|g| json::Group::new(&a.queue, g))
            .collect();
        return print_json(&list);
    }
    if groups.is_empty() {
        emit(&format!("no groups in queue {:?}\n", a.queue));
        return Ok(());
    }
    let mut t = Table::new(&["Group", "Size"]).right(&[1]);
    for g in &groups {
        t.row([g.group.clone(), g.size.to_string()]);
    }
    emit(&t.render());
    Ok(())
}
