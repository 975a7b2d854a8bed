//! `arrears policy`: a preset printed as shipped, or a policy file checked
//! and printed as resolved over its base preset.

use crate::cli::{print_quietly, Exit, PolicyArgs};
use crate::policy::{self, Policy};

pub fn command(args: &PolicyArgs) -> anyhow::Result<Exit> {
    if args.list {
        for name in policy::preset_names() {
            println!("{name}");
        }
        return Ok(Exit::Done);
    }
    if let Some(text) = policy::preset(&args.preset) {
        return print_quietly(text.as_bytes());
    }
    // A file: checked, and printed as resolved over its base preset.
    let resolved = Policy::load(&args.preset)?;
    let text = format!(
        "# {}: checked; resolved over preset {}\n{}",
        args.preset, resolved.base, resolved.resolved
    );
    print_quietly(text.as_bytes())
}
