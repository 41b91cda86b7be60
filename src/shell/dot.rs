//! The shell's own commands, which start with `.` and are not statements. Help and completion
//! read [`DOT_COMMANDS`].

/// A parsed dot command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DotCommand {
    Open(String),
    Close,
    Help,
    Quit,
    Clear,
    Title,
}

/// One dot command as `.help` shows it.
pub(crate) struct DotHelp {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
}

pub(crate) const DOT_COMMANDS: &[DotHelp] = &[
    DotHelp { name: ".open", args: "PATH", summary: "Open a store (asks before creating a new one)" },
    DotHelp { name: ".close", args: "", summary: "Close the open store" },
    DotHelp { name: ".help", args: "", summary: "Show this help" },
    DotHelp { name: ".quit", args: "", summary: "Close the store and leave (also .exit)" },
    DotHelp { name: ".clear", args: "", summary: "Clear the screen" },
    DotHelp { name: ".title", args: "", summary: "Show the banner" },
];

/// Parses a line that starts with `.`.
pub(crate) fn parse(line: &str) -> Result<DotCommand, String> {
    let line = line.trim();
    let (name, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let no_args = |command: DotCommand| {
        if rest.is_empty() { Ok(command) } else { Err(format!("{name} takes no arguments")) }
    };
    match name.to_ascii_lowercase().as_str() {
        ".open" => {
            let path = unquote(rest);
            if path.is_empty() {
                Err("Usage: .open PATH".to_owned())
            } else {
                Ok(DotCommand::Open(path.to_owned()))
            }
        }
        ".close" => no_args(DotCommand::Close),
        ".help" => no_args(DotCommand::Help),
        ".quit" | ".exit" => no_args(DotCommand::Quit),
        ".clear" => no_args(DotCommand::Clear),
        ".title" => no_args(DotCommand::Title),
        _ => Err(format!("Unknown command '{name}'. Use .help for help")),
    }
}

/// A path given in double or single quotes loses them (so names with spaces can be given).
fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_commands() {
        assert_eq!(parse(".open my.db"), Ok(DotCommand::Open("my.db".into())));
        assert_eq!(parse("  .OPEN   \"my file.db\"  "), Ok(DotCommand::Open("my file.db".into())));
        assert_eq!(parse(".open 'a b'"), Ok(DotCommand::Open("a b".into())));
        assert_eq!(parse(".open"), Err("Usage: .open PATH".into()));
        assert_eq!(parse(".close"), Ok(DotCommand::Close));
        assert_eq!(parse(".help"), Ok(DotCommand::Help));
        assert_eq!(parse(".quit"), Ok(DotCommand::Quit));
        assert_eq!(parse(".exit"), Ok(DotCommand::Quit));
        assert_eq!(parse(".clear"), Ok(DotCommand::Clear));
        assert_eq!(parse(".title"), Ok(DotCommand::Title));
        assert_eq!(parse(".close now"), Err(".close takes no arguments".into()));
        assert_eq!(parse(".frob"), Err("Unknown command '.frob'. Use .help for help".into()));
        assert_eq!(parse("."), Err("Unknown command '.'. Use .help for help".into()));
    }

    #[test]
    fn every_listed_command_parses() {
        for command in DOT_COMMANDS {
            let line =
                if command.args.is_empty() { command.name.to_owned() } else { format!("{} x", command.name) };
            assert!(parse(&line).is_ok(), "{}", command.name);
        }
    }
}
