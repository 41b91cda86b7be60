//! The overlays: everything drawn over the screen that takes the keys while it is open. They
//! form one stack (as gitui's popup stack does): the top one takes keys, paste and the mouse, and
//! they are drawn from the bottom up, so the order is written down once, here, instead of in every
//! place that handles input or draws.

use super::dialogs::{CheckState, ConfirmDelete};
use super::editor::Editor;
use super::key_list::Input;
use super::readers::ReadersView;
use super::salvage::SalvageView;
use super::search::SearchView;

/// One overlay and its state.
#[derive(Debug)]
pub(crate) enum Overlay {
    /// `?`: the key map, scrolled.
    Help { scroll: usize },
    /// `c`: the integrity check's progress, then its report, scrolled.
    Check { state: CheckState, scroll: usize },
    /// `d`: the delete waiting for y or n.
    Confirm(ConfirmDelete),
    /// `e` and `a`: the editor or the new-key dialog.
    Editor(Box<Editor>),
    /// `:`: typing a statement (its text and history are the command bar's).
    Command,
    /// The command bar's answers.
    Output,
    /// `/` or `s`: a filter or a key typed in the list's title.
    KeyInput(Input),
    /// `i`: the whole selected key.
    KeyInfo,
    /// `y`: what to copy.
    Copy,
    /// `x`: the export's file name being typed.
    Export { path: String },
    /// `F`: the text to look for in values, then the search and its matches.
    ValueSearch(SearchView),
    /// The store's recovery report: shown on open when it is not quiet, and by `R`.
    Recovery,
    /// `w`: the writer and the reader table, read again while open.
    Readers(ReadersView),
    /// `S`, or from the recovery report or the check: the new store's name, the salvage
    /// running, then its report.
    Salvage(Box<SalvageView>),
}

impl Overlay {
    /// Whether the overlay is a text field: letters are text there, not key bindings.
    pub(crate) fn takes_text(&self) -> bool {
        match self {
            Overlay::Editor(_) | Overlay::Command | Overlay::KeyInput(_) | Overlay::Export { .. } => true,
            Overlay::ValueSearch(view) => view.job.is_none(),
            Overlay::Salvage(view) => view.typing(),
            _ => false,
        }
    }
}
