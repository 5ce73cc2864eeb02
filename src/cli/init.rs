//! `llmload init`: writes a commented starter scenario that validates and runs against the
//! built-in mock as written.

use std::io::Write;
use std::path::Path;

/// The starter scenario's text.
pub const STARTER: &str = include_str!("../../templates/starter.toml");

/// Writes the starter scenario to `path`. An existing file is kept unless `force` is set; a
/// folder is never replaced.
pub fn write_starter(path: &Path, force: bool) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{} is a folder; give a file name, e.g. {}",
            path.display(),
            path.join("scenario.toml").display()
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        // create_new: refuses atomically when the file exists.
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} exists; choose another path or pass --force to overwrite it",
                path.display()
            )
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })?;
    f.write_all(STARTER.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What to type next, printed after the file is written.
pub fn next_steps(path: &Path) -> String {
    let p = path.display();
    format!(
        "wrote {p}: one model on the built-in mock, 5 requests/s for 20 s\n\
         next:\n  llmload validate {p}\n  llmload run {p}\n\
         to measure a real provider, set base_url and api_key_env in [[targets]] and the model id in [[models]]"
    )
}

/// `llmload init`: writes the starter scenario and prints the next steps.
pub fn cmd(a: &crate::cli::args::InitArgs) -> anyhow::Result<crate::cli::exit::Exit> {
    write_starter(&a.path, a.force).map_err(crate::cli::exit::user)?;
    outln!("{}", next_steps(&a.path));
    Ok(crate::cli::exit::Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Source;

    #[test]
    fn the_starter_is_a_valid_mock_scenario() {
        let src = Source {
            path: "scenario.toml".into(),
            text: STARTER.to_string(),
        };
        let plan =
            crate::config::plan::Plan::build(&src, src.parse().expect("parses")).expect("valid");
        assert!(plan
            .targets
            .iter()
            .all(|t| matches!(t.base, crate::config::plan::Base::Mock(_))));
        assert_eq!(plan.models.len(), 1);
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "mine").expect("write");
        let e = write_starter(&p, false).expect_err("exists");
        assert!(e.contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "mine");
        write_starter(&p, true).expect("forced");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), STARTER);
        assert!(write_starter(dir.path(), true)
            .expect_err("folder")
            .contains("folder"));
    }
}
