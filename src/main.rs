use anyhow::Context;
use clap::Parser;
use secrecy::{ExposeSecret, SecretString};

use kyodo::bootstrap::{self, FirstAdmin};
use kyodo::config::{Cli, Command};
use kyodo::startup::Application;
use kyodo::{db, openapi, telemetry};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tune_allocator();
    let Cli { config, command } = Cli::parse();
    telemetry::init(&config.log_filter, config.log_format);
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config.clone()).await?;
            if let Some(admin) = &app.first_admin {
                print_first_admin(admin);
            }
            tracing::info!(address = %config.bind_address, port = app.port(), "serving");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let url = bootstrap::database_url(&config)?;
            let pool = db::connect_pool(&url, 1)?;
            db::run_migrations(&mut *pool.get()?)?;
            println!("Migrations applied ({}).", url.backend());
        }
        Command::Seed { demo } => {
            let (pool, _) = bootstrap::prepare_database(&config)?;
            let report = db::transaction(&mut *pool.get()?, db::seed::seed_council)?;
            println!(
                "Seeded: {} organizations, {} union memberships, {} population figures created.",
                report.organizations_created,
                report.memberships_created,
                report.population_figures_created
            );
            if demo {
                // A command, not the service: there is no injected clock to ask.
                let created = db::transaction(&mut *pool.get()?, |conn| {
                    kyodo::demo::load(conn, kyodo::clock::utc_now())
                })
                .map_err(|e| anyhow::anyhow!("loading the demonstration procurements: {e}"))?;
                println!("Demonstration: {created} procurements created.");
            }
        }
        Command::CreateAdmin { email, password } => {
            let (pool, _) = bootstrap::prepare_database(&config)?;
            let generated = password.is_none();
            let password = password
                .unwrap_or_else(|| SecretString::from(uuid::Uuid::new_v4().simple().to_string()));
            let user = bootstrap::create_admin(&mut *pool.get()?, &email, password.clone())
                .context("creating the administrator")?;
            print_first_admin(&FirstAdmin {
                email: user.email,
                generated_password: generated.then_some(password),
            });
        }
        Command::Openapi => {
            println!("{}", openapi::document().to_pretty_json()?);
        }
    }
    Ok(())
}

fn print_first_admin(admin: &FirstAdmin) {
    match &admin.generated_password {
        Some(password) => println!(
            "\n  Administrator created: {}\n  One-time password:     {}\n  (shown only now: log in and keep it somewhere safe)\n",
            admin.email,
            password.expose_secret()
        ),
        None => println!("\n  Administrator created: {}\n", admin.email),
    }
}

/// glibc gives each thread that allocates under contention an arena of its own, up to eight per
/// core, and keeps what they once held; and after a large block (an Argon2 hash needs 19 MiB) is
/// freed it raises its mmap threshold, so that later large blocks come from the heap and stay
/// resident. Two arenas and a fixed threshold keep the service's memory near its working set;
/// throughput stayed within the benchmark's run-to-run noise (bench/RESULTS.md).
/// `MALLOC_ARENA_MAX` and `MALLOC_MMAP_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (variable, parameter, value) in [
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2),
        ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 128 * 1024),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt only sets an allocator parameter; it runs before the service starts
            // its worker and database threads.
            unsafe {
                libc::mallopt(parameter, value);
            }
        }
    }
}
