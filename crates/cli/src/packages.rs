//! `sspi-emu packages` and `sspi-emu world check`: look at world files.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sspi_emu::sim::World;

use crate::Verdict;

/// Lists the packages of `world` (default: the embedded default world) with every
/// `SecPkgInfo` field, in the order `EnumerateSecurityPackages` returns them.
pub(crate) fn list(out: &mut dyn Write, world: Option<&Path>) -> io::Result<Verdict> {
    let world = match world {
        None => World::default_world(),
        Some(path) => match World::load(path) {
            Ok(w) => Arc::new(w),
            Err(e) => {
                eprintln!("{e}");
                return Ok(Verdict::Failure);
            }
        },
    };
    writeln!(out, "{} security packages in world `{}`:", world.packages.len(), world.name)?;
    for p in &world.packages {
        let info = &p.info;
        writeln!(out)?;
        writeln!(out, "{}", info.name)?;
        writeln!(out, "  Comment:      {}", info.comment)?;
        // Debug gives the hex value and the decoded SECPKG_FLAG_* names.
        writeln!(out, "  Capabilities: {:?}", info.capabilities)?;
        writeln!(out, "  Version:      {}", info.version)?;
        writeln!(out, "  RPC id:       {}", info.rpc_id)?;
        writeln!(out, "  Max token:    {}", info.max_token)?;
    }
    Ok(Verdict::Success)
}

/// Loads each world file: `ok FILE` on stdout, or the error (`file:line:col: field `x`:
/// message`) on stderr. `Failure` if any file is invalid.
pub(crate) fn check_worlds(out: &mut dyn Write, files: &[PathBuf]) -> io::Result<Verdict> {
    let mut all_ok = true;
    for file in files {
        match World::load(file) {
            Ok(_) => writeln!(out, "ok {}", file.display())?,
            Err(e) => {
                all_ok = false;
                eprintln!("{e}");
            }
        }
    }
    Ok(Verdict::from_ok(all_ok))
}
