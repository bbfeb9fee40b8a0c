//! `copydesk models list | info M | pull M`.

use clap::Subcommand;

use crate::models::cpu::isa::KernelReport;
use crate::registry::{self, manifests, HubOptions, ManifestSource, ModelSpec};
use crate::Error;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models copydesk knows by name (its manifests).
    List,
    /// Show where a model comes from and which files it uses (downloads nothing).
    Info {
        /// Manifest name, hub id (org/name[@revision]) or local directory.
        model: String,
    },
    /// Download a model's files into the Hugging Face cache, for later offline use.
    Pull {
        /// Manifest name, hub id (org/name[@revision]) or local directory.
        model: String,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<(), Error> {
    match cmd {
        ModelsCommand::List => {
            for m in manifests()? {
                let source = match &m.source {
                    ManifestSource::Hub { repo, revision } => format!("{repo}@{revision}"),
                    ManifestSource::Local { path } => path.display().to_string(),
                };
                let use_note = if m.non_commercial() {
                    "NON-COMMERCIAL USE ONLY: "
                } else {
                    ""
                };
                println!(
                    "{:<22} {:<10} {:<8} {:<12} {source}  {use_note}{}",
                    m.name,
                    format!("{:?}", m.task).to_lowercase(),
                    m.architecture.as_str(),
                    m.license.as_deref().unwrap_or("-"),
                    m.description
                );
            }
            Ok(())
        }
        ModelsCommand::Info { model } => {
            let spec = ModelSpec::parse(&model)?;
            let mut hub = HubOptions::from_env();
            hub.offline = true;
            let json = match registry::resolve(&spec, &hub) {
                Ok(files) => serde_json::json!({
                    "model": model, "spec": spec.label(), "available_offline": true,
                    "files": files, "kernels": KernelReport::active()
                }),
                Err(e) => serde_json::json!({
                    "model": model, "spec": spec.label(), "manifest": spec.manifest(),
                    "available_offline": false, "reason": e.to_string()
                }),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            Ok(())
        }
        ModelsCommand::Pull { model } => {
            let spec = ModelSpec::parse(&model)?;
            let files = registry::pull(&spec, &HubOptions::from_env())?;
            let rev = files.revision.as_deref().unwrap_or("local");
            println!(
                "{} ({rev}) ready in {}",
                files.dir_name,
                files.root.display()
            );
            for f in &files.downloaded {
                println!("  downloaded {f}");
            }
            Ok(())
        }
    }
}
