//! One module per group of commands.

pub mod account;
pub mod admin;
pub mod audit;
pub mod classify;
pub mod consults;
pub mod demo;
pub mod gateway;
pub mod maintenance;
pub mod records;
pub mod rooms;
pub mod serve;

use crate::Command;

/// Run a client-side command.
pub async fn dispatch(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Admin { command } => admin::run(command).await,
        Command::Enroll(a) => account::enroll(a).await,
        Command::Login(a) => account::login(a).await,
        Command::Logout => account::logout().await,
        Command::Whoami => account::whoami().await,
        Command::Upload(a) => records::upload(a).await,
        Command::Search(a) => records::search(a).await,
        Command::Get(a) => records::get(a).await,
        Command::Share(a) => records::share(a).await,
        Command::Revoke(a) => records::revoke(a).await,
        Command::Consent { command } => records::consent(command).await,
        Command::Care(a) => records::care(a).await,
        Command::BreakGlass(a) => records::break_glass(a).await,
        Command::Inbox(a) => records::inbox(a).await,
        Command::Room { command } => rooms::run(command).await,
        Command::Consult { command } => consults::run(command).await,
        Command::Oncall { command } => consults::oncall(command).await,
        Command::Notify { command } => consults::notify(command).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Contact { command } => audit::contact(command).await,
        Command::Serve(_)
        | Command::Config { .. }
        | Command::Demo(_)
        | Command::Classify(_)
        | Command::Gateway { .. }
        | Command::Migrate(_)
        | Command::Backup(_)
        | Command::Restore(_) => {
            unreachable!("handled in main")
        }
    }
}
