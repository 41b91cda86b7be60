//! The help text of every statement: `HELP`, `HELP name`, the shell's `.help` and completion all
//! read this one table.

/// Help for one statement (or for the literal syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelpTopic {
    /// The word `HELP` takes: `"PUT"`, `"IDENTIFIER"`, `"SYNTAX"`.
    pub name: &'static str,
    /// The statement's forms, one per line.
    pub syntax: &'static str,
    /// One line.
    pub summary: &'static str,
    /// A few lines on what it does and answers.
    pub details: &'static str,
    /// One or more example statements.
    pub example: &'static str,
}

/// Every help topic, statements first in the order people meet them.
pub const TOPICS: &[HelpTopic] = &[
    HelpTopic {
        name: "PUT",
        syntax: "PUT key:value [, key:value ...];",
        summary: "Store one or more key-value pairs, all or none.",
        details: "All pairs of one PUT are written in one atomic batch. A key that exists gets the new \
                  value.\nAnswers: Inserted N key-value pairs",
        example: "PUT \"user:1\":\"alice\", \"user:2\":\"bob\";\nPUT x'00ff':\"binary key\";",
    },
    HelpTopic {
        name: "GET",
        syntax: "GET WHERE KEY=key;\nGET WHERE KEY=*;",
        summary: "Read one value, or every pair in the store.",
        details: "With a key: answers the value, or Key not found. A value that is not plain text \
                  shows as <BINARY DATA: XX XX ...>.\nWith *: answers Found N key-value pairs: and \
                  one \"key\": \"value\" line each in key order, or No data found. For large stores \
                  use SCAN, which pages.",
        example: "GET WHERE KEY=\"user:1\";\nGET WHERE KEY=*;",
    },
    HelpTopic {
        name: "DEL",
        syntax: "DEL WHERE KEY=key;",
        summary: "Delete one key.",
        details: "Answers Key deleted, or Key not found when the key did not exist.",
        example: "DEL WHERE KEY=\"user:1\";",
    },
    HelpTopic {
        name: "SCAN",
        syntax: "SCAN [PREFIX p] [FROM k] [LIMIT n];",
        summary: "List pairs in key order, a page at a time.",
        details: "Lists keys that start with PREFIX (default: all), from key FROM on (inclusive), at \
                  most LIMIT pairs (default 100, at most 1000000). When more pairs follow, the answer \
                  ends with the statement that lists the next page; FROM that key resumes exactly \
                  after the last pair shown.",
        example: "SCAN PREFIX \"user:\" LIMIT 10;\nSCAN PREFIX \"user:\" FROM \"user:11\" LIMIT 10;",
    },
    HelpTopic {
        name: "COUNT",
        syntax: "COUNT;",
        summary: "Number of keys in the store.",
        details: "Answers the number alone.",
        example: "COUNT;",
    },
    HelpTopic {
        name: "COMPACT",
        syntax: "COMPACT;",
        summary: "Rewrite the store densely and give free space back.",
        details: "Answers Database compacted.",
        example: "COMPACT;",
    },
    HelpTopic {
        name: "IDENTIFIER",
        syntax: "IDENTIFIER GET;\nIDENTIFIER SET text;",
        summary: "Read or change the store's identifier.",
        details: "GET answers the identifier. SET answers Identifier set to 'text'; the identifier \
                  must be UTF-8 text.",
        example: "IDENTIFIER GET;\nIDENTIFIER SET \"UserDatabase\";",
    },
    HelpTopic {
        name: "STATS",
        syntax: "STATS;",
        summary: "Page counts by type, tree depth, key count, file, log and cache figures.",
        details: "One name: value line per figure.",
        example: "STATS;",
    },
    HelpTopic {
        name: "PAGES",
        syntax: "PAGES [FROM n] [LIMIT n];",
        summary: "List pages with their type, items, fill and checksum state.",
        details: "From page FROM (default 0), at most LIMIT pages (default 100, at most 100000). \
                  When more pages follow, the answer ends with the statement for the next page.",
        example: "PAGES;\nPAGES FROM 100 LIMIT 50;",
    },
    HelpTopic {
        name: "PAGE",
        syntax: "PAGE n;",
        summary: "Everything about one page: header fields and items.",
        details: "Shows the type, stored type byte, item count, next pointer, checksum state, used and \
                  free bytes, then each item (leaf entries, branch children, overflow data, free-list \
                  entries or meta fields).",
        example: "PAGE 1;",
    },
    HelpTopic {
        name: "FREELIST",
        syntax: "FREELIST;",
        summary: "The free pages, which are reused before the file grows.",
        details: "Answers the number of free pages and their numbers, runs shown as first-last.",
        example: "FREELIST;",
    },
    HelpTopic {
        name: "CHECK",
        syntax: "CHECK;",
        summary: "Verify every page and key; name damaged pages.",
        details: "Reads the whole store, verifying checksums and the tree. Answers OK, or each problem \
                  with the page at fault. wkstore-tui --exec exits with status 3 when CHECK finds \
                  damage.",
        example: "CHECK;",
    },
    HelpTopic {
        name: "READERS",
        syntax: "READERS;",
        summary: "The reader table: read-only handles and the checkpoints they pin.",
        details: "One row per read-only handle open on the store, in this process or another: its \
                  slot, process id, the checkpoint it pinned and for how long. The writer keeps every \
                  page such a checkpoint reaches. A summary line follows: the checkpoint in force, \
                  the free pages held back for readers, and whether this handle is read-only.",
        example: "READERS;",
    },
    HelpTopic {
        name: "EXPORT",
        syntax: "EXPORT file;",
        summary: "Write every pair to a JSON-lines file.",
        details: "The first line names the format and the store's identifier; each further line is one \
                  pair. Text keys and values are JSON strings, others {\"base64\": \"...\"}. The file \
                  is written beside its final name and renamed when complete; an existing file is \
                  replaced.",
        example: "EXPORT \"backup.jsonl\";",
    },
    HelpTopic {
        name: "IMPORT",
        syntax: "IMPORT file;",
        summary: "Add the pairs of an EXPORT file to the store.",
        details: "The whole file is checked before anything is written, so a malformed file changes \
                  nothing. Pairs are then written in batches; existing keys get the file's value. The \
                  store keeps its own identifier.",
        example: "IMPORT \"backup.jsonl\";",
    },
    HelpTopic {
        name: "SALVAGE",
        syntax: "SALVAGE TO file;",
        summary: "Copy every key a damaged store file still holds into a new store.",
        details: "Reads every page of the store's file directly, not through its tree: every leaf whose \
                  checksum verifies, whole overflow chains, and the log after the last checkpoint. \
                  Writes the keys into a new store at file, which must not exist; the store itself is \
                  only read, so SALVAGE works on a read-only store. Answers a report: pages read and \
                  skipped (and why), keys recovered, values lost, duplicate copies resolved.",
        example: "SALVAGE TO \"rescued.db\";",
    },
    HelpTopic {
        name: "HELP",
        syntax: "HELP [topic];",
        summary: "List the statements, or explain one.",
        details: "HELP alone lists every statement. HELP name explains one; HELP SYNTAX explains \
                  strings, hex literals and comments.",
        example: "HELP;\nHELP SCAN;",
    },
    HelpTopic {
        name: "SYNTAX",
        syntax: "\"text\"  x'hex'  -- comment",
        summary: "Strings, hex literals, comments and statement ends.",
        details: "Keywords are case-insensitive. A statement ends with ';' and may span lines; at the \
                  end of a script the last ';' may be left out. Strings are in double quotes with the \
                  escapes \\\" \\\\ \\n \\t \\r \\0 and \\xNN (any byte). Hex literals x'00ff' give \
                  any bytes. Keys, values and file names are strings or hex literals. '--' starts a \
                  comment to the end of the line.",
        example: "PUT \"tab\\there\":x'00ff';\nGET WHERE KEY=\"tab\\there\"; -- a comment",
    },
];

/// The topic called `name`, in any case.
pub fn find_topic(name: &str) -> Option<&'static HelpTopic> {
    TOPICS.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::lexer::Keyword;

    #[test]
    fn every_statement_keyword_has_a_topic() {
        for keyword in [
            Keyword::Put,
            Keyword::Get,
            Keyword::Del,
            Keyword::Scan,
            Keyword::Count,
            Keyword::Compact,
            Keyword::Identifier,
            Keyword::Stats,
            Keyword::Pages,
            Keyword::Page,
            Keyword::Freelist,
            Keyword::Check,
            Keyword::Readers,
            Keyword::Export,
            Keyword::Import,
            Keyword::Salvage,
            Keyword::Help,
        ] {
            assert!(find_topic(keyword.as_str()).is_some(), "{keyword}");
        }
        assert_eq!(find_topic("scan").map(|t| t.name), Some("SCAN"));
        assert!(find_topic("nothing").is_none());
    }

    #[test]
    fn examples_parse() {
        for topic in TOPICS {
            crate::command::parse_script(topic.example)
                .unwrap_or_else(|e| panic!("example of {}: {e}", topic.name));
        }
    }

    #[test]
    fn documented_limits_match_the_code() {
        use crate::command::limits::{
            DEFAULT_PAGES_LIMIT, DEFAULT_SCAN_LIMIT, MAX_PAGES_LIMIT, MAX_SCAN_LIMIT,
        };
        let scan = find_topic("SCAN").unwrap().details;
        assert!(scan.contains(&format!("default {DEFAULT_SCAN_LIMIT}, at most {MAX_SCAN_LIMIT}")));
        let pages = find_topic("PAGES").unwrap().details;
        assert!(pages.contains(&format!("default {DEFAULT_PAGES_LIMIT}, at most {MAX_PAGES_LIMIT}")));
    }
}
