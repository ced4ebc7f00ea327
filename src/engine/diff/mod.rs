//! Differences for people: what changed between two trees (`changes`: the change sets that
//! Compare shows) and between two texts (`text`: line diffs with word highlights,
//! side-by-side rows, unified text).

pub mod changes;
pub mod text;
