//! The Replace screen's results list: a header row per file and per table followed by
//! its matches, and ticking (one match, or all of a header's).

use super::{Item, ReplaceScreen};

impl ReplaceScreen {
    pub(super) fn rebuild_items(&mut self) {
        self.items.clear();
        if let Some(p) = &self.plan {
            for (fi, f) in p.files.files.iter().enumerate() {
                self.items.push(Item::File(fi));
                self.items
                    .extend((0..f.hits.len()).map(|hit| Item::Hit { file: fi, hit }));
            }
            if let Some(d) = &p.db {
                let mut start = 0;
                while start < d.rows.len() {
                    let table = &d.rows[start].table;
                    let n = d.rows[start..]
                        .iter()
                        .take_while(|r| &r.table == table)
                        .count();
                    self.items.push(Item::Table {
                        start,
                        end: start + n,
                    });
                    self.items.extend((start..start + n).map(Item::Row));
                    start += n;
                }
            }
        }
        self.nav.clamp(self.items.len());
    }

    /// The matches under a header (the item itself for a match).
    pub(super) fn members(&self, item: Item) -> Vec<Item> {
        let Some(p) = &self.plan else {
            return Vec::new();
        };
        match item {
            Item::File(file) => (0..p.files.files[file].hits.len())
                .map(|hit| Item::Hit { file, hit })
                .collect(),
            Item::Table { start, end } => (start..end).map(Item::Row).collect(),
            m => vec![m],
        }
    }

    /// (ticked, total) matches of an item (a header: of all its matches).
    pub(super) fn tally(&self, item: Item) -> (usize, usize) {
        let m = self.members(item);
        (m.iter().filter(|&&i| self.ticked(i)).count(), m.len())
    }

    /// Whether the match is ticked (a header: all of its matches).
    pub(super) fn ticked(&self, item: Item) -> bool {
        let Some(p) = &self.plan else { return false };
        match item {
            Item::File(_) | Item::Table { .. } => {
                let (on, all) = self.tally(item);
                on == all && all > 0
            }
            Item::Hit { file, hit } => {
                let f = &p.files.files[file];
                f.selected && !f.skip.contains(&hit)
            }
            Item::Row(r) => p.db.as_ref().is_some_and(|d| d.rows[r].selected),
        }
    }

    pub(super) fn toggle(&mut self) {
        let Some(&item) = self.items.get(self.nav.selected) else {
            return;
        };
        let on = self.ticked(item);
        let Some(p) = &mut self.plan else { return };
        match item {
            // all ticked: untick all; else tick all
            Item::File(file) => {
                let f = &mut p.files.files[file];
                f.selected = !on;
                f.skip = if on {
                    (0..f.hits.len()).collect()
                } else {
                    Vec::new()
                };
            }
            Item::Table { start, end } => {
                if let Some(d) = &mut p.db {
                    for r in &mut d.rows[start..end] {
                        r.selected = !on;
                    }
                }
            }
            Item::Hit { file, hit } => {
                let f = &mut p.files.files[file];
                if on {
                    f.skip.push(hit);
                } else {
                    f.selected = true;
                    f.skip.retain(|&h| h != hit);
                }
            }
            Item::Row(r) => {
                if let Some(d) = &mut p.db {
                    d.rows[r].selected = !on;
                }
            }
        }
    }

    pub(super) fn ticked_count(&self) -> usize {
        self.items
            .iter()
            .filter(|&&i| !i.is_header() && self.ticked(i))
            .count()
    }

    /// The number of matches listed (headers aside).
    pub(super) fn match_count(&self) -> usize {
        self.items.iter().filter(|i| !i.is_header()).count()
    }
}
