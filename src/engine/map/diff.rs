//! Diffing two maps in one pass: both are in map order, so a merge join finds what was
//! added, removed, modified, changed mode or changed type, in order, in linear time and
//! constant memory.

use std::cmp::Ordering;
use std::iter::Peekable;

use super::{Entry, cmp_paths};
use crate::engine::diff::changes::ChangeKind;

/// One difference: the entry on each side (None where the path is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub kind: ChangeKind,
    pub old: Option<Entry>,
    pub new: Option<Entry>,
}

impl Delta {
    pub fn path(&self) -> &[u8] {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .map(|e| e.path.as_slice())
            .unwrap_or_default()
    }
}

/// How two entries of the same path differ, if they do.
pub fn compare(old: &Entry, new: &Entry) -> Option<ChangeKind> {
    if old.kind != new.kind {
        Some(ChangeKind::TypeChanged)
    } else if old.hash != new.hash || !old.hash_valid() || !new.hash_valid() {
        Some(ChangeKind::Modified)
    } else if old.mode != new.mode {
        Some(ChangeKind::ModeChanged)
    } else {
        None
    }
}

/// The differences between two maps given as entry streams in map order.
pub struct MapDiff<A: Iterator, B: Iterator> {
    old: Peekable<A>,
    new: Peekable<B>,
}

/// Diff `old` against `new` (iterators of `Result<Entry>` in map order).
pub fn diff<A, B>(old: A, new: B) -> MapDiff<A, B>
where
    A: Iterator<Item = anyhow::Result<Entry>>,
    B: Iterator<Item = anyhow::Result<Entry>>,
{
    MapDiff {
        old: old.peekable(),
        new: new.peekable(),
    }
}

impl<A, B> Iterator for MapDiff<A, B>
where
    A: Iterator<Item = anyhow::Result<Entry>>,
    B: Iterator<Item = anyhow::Result<Entry>>,
{
    type Item = anyhow::Result<Delta>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let ord = match (self.old.peek(), self.new.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => {
                    return self.old.next().map(|r| r.map(|_| unreachable_delta()));
                }
                (_, Some(Err(_))) => {
                    return self.new.next().map(|r| r.map(|_| unreachable_delta()));
                }
                (Some(Ok(_)), None) => Ordering::Less,
                (None, Some(Ok(_))) => Ordering::Greater,
                (Some(Ok(o)), Some(Ok(n))) => cmp_paths(&o.path, &n.path),
            };
            match ord {
                Ordering::Less => {
                    let o = self.old.next()?.ok()?;
                    return Some(Ok(Delta {
                        kind: ChangeKind::Removed,
                        old: Some(o),
                        new: None,
                    }));
                }
                Ordering::Greater => {
                    let n = self.new.next()?.ok()?;
                    return Some(Ok(Delta {
                        kind: ChangeKind::Added,
                        old: None,
                        new: Some(n),
                    }));
                }
                Ordering::Equal => {
                    let o = self.old.next()?.ok()?;
                    let n = self.new.next()?.ok()?;
                    if let Some(kind) = compare(&o, &n) {
                        return Some(Ok(Delta {
                            kind,
                            old: Some(o),
                            new: Some(n),
                        }));
                    }
                }
            }
        }
    }
}

/// Never built: an error arm returns the error, not a delta.
fn unreachable_delta() -> Delta {
    Delta {
        kind: ChangeKind::Modified,
        old: None,
        new: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::map::EntryKind;

    fn e(path: &str, h: u8, mode: u32, kind: EntryKind) -> anyhow::Result<Entry> {
        Ok(Entry {
            path: path.as_bytes().to_vec(),
            kind,
            mode,
            size: 1,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            hash: [h; 32],
            flags: 0,
        })
    }
    fn f(path: &str, h: u8) -> anyhow::Result<Entry> {
        e(path, h, 0o644, EntryKind::File)
    }

    #[test]
    fn finds_every_kind_of_change_in_order() {
        let old = vec![
            f("a/x", 1),
            f("a/y", 2),
            f("a.txt", 3),
            f("b", 4),
            f("c", 5),
            f("d", 6),
        ];
        let new = vec![
            f("a/x", 1),
            f("a/y", 9),
            f("a/z", 7),
            e("b", 4, 0o755, EntryKind::File),
            e("c", 5, 0o644, EntryKind::Symlink),
            f("e", 8),
        ];
        let got: Vec<(ChangeKind, String)> = diff(old.into_iter(), new.into_iter())
            .map(|d| d.unwrap())
            .map(|d| (d.kind, String::from_utf8(d.path().to_vec()).unwrap()))
            .collect();
        use ChangeKind::*;
        let want = [
            (Modified, "a/y"),
            (Added, "a/z"),
            (Removed, "a.txt"),
            (ModeChanged, "b"),
            (TypeChanged, "c"),
            (Removed, "d"),
            (Added, "e"),
        ];
        assert_eq!(got, want.map(|(k, p)| (k, p.to_string())));
    }

    #[test]
    fn unstable_entries_always_count_as_modified() {
        let mut u = f("a", 1).unwrap();
        u.flags = crate::engine::map::FLAG_UNSTABLE;
        let d: Vec<_> = diff(vec![f("a", 1)].into_iter(), vec![Ok(u)].into_iter()).collect();
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn errors_are_passed_on() {
        let bad: Vec<anyhow::Result<Entry>> = vec![Err(anyhow::anyhow!("truncated map"))];
        let d: Vec<_> = diff(bad.into_iter(), vec![f("a", 1)].into_iter()).collect();
        assert!(d[0].is_err());
    }
}
