//! The Recycle bin view of the Scripts screen (`v` in the lower pane): every file devsky
//! deleted or overwrote (builds, replace, restores), newest first; `R` puts the selected
//! one back byte for byte with its mode after a confirmation (`engine::bin`), as a job.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::view::keys_line;
use super::{Kind, Popup, Running, ScriptsScreen};
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{fit_left, fit_right, pane, pane_title, popup_block};
use crate::engine::util::units::{format_time, human_size};

impl ScriptsScreen {
    pub(super) fn ask_restore(&mut self, ctx: &mut Ctx) {
        if !self.show_bin {
            ctx.status(
                Level::Info,
                "the recycle bin is in the lower pane: v shows it",
            );
            return;
        }
        if self.busy(ctx) {
            return;
        }
        match self.lists.bin.get(self.bin_nav.selected) {
            Some(e) => {
                self.popup = Some(Popup::Restore {
                    id: e.id,
                    path: e.path.clone(),
                })
            }
            None => ctx.status(Level::Info, "the recycle bin is empty"),
        }
    }

    pub(super) fn start_restore(&mut self, id: u64, ctx: &mut Ctx) {
        let root = ctx.project.root.clone();
        let seq = self.tickets.issue();
        let job = ctx.jobs.spawn_blocking("restore", move |_| {
            let e = crate::engine::bin::Bin::open(&root)?.restore(id)?;
            Ok(format!(
                "restored {} ({}) from the recycle bin",
                e.path,
                human_size(e.size as i64)
            ))
        });
        self.job = Some(Running {
            job,
            seq,
            kind: Kind::Restore,
        });
        ctx.status(
            Level::Info,
            format!("restoring bin entry {id} (job #{job})"),
        );
    }
}

pub(super) fn draw(s: &mut ScriptsScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let title = format!(" Recycle bin · {} ", s.lists.bin.len());
    let block = pane(pane_title(title, t), s.builds_focus, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if s.lists.bin.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "The recycle bin is empty. Every file devsky deletes or overwrites goes here \
                 first, and R puts it back.",
                t.dim,
            ))
            .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    let (w, h) = (inner.width as usize, inner.height as usize);
    let visible = s.bin_nav.scroll_into_view(s.lists.bin.len(), h);
    let mut lines = Vec::new();
    for row in visible {
        let e = &s.lists.bin[row];
        let mut time = format_time(e.time);
        time.truncate(16);
        let head = format!("{:>4} {time} {:>8} ", e.id, human_size(e.size as i64));
        let rest = w.saturating_sub(head.len() + 1);
        let path_w = (rest * 2 / 3).max(8);
        let text = format!(
            "{head}{:<path_w$} {}",
            fit_left(&e.path, path_w),
            fit_right(&e.reason, rest.saturating_sub(path_w))
        );
        let style = if row == s.bin_nav.selected && s.builds_focus {
            t.selected
        } else {
            t.base
        };
        lines.push(Line::from(Span::styled(fit_right(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines).style(t.base), inner);
}

pub(super) fn draw_confirm(frame: &mut Frame, area: Rect, id: u64, path: &str, t: &Theme) {
    let w = area.width.saturating_sub(4).min(64);
    let popup = centered(area, w, 8);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(Span::styled(
            format!("Restore {path} (bin entry {id})? What is there now goes to the bin first."),
            t.warn,
        )),
        Line::default(),
        keys_line(&[("y", "restore"), ("n", "keep it")], t),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(" Restore? ", t)),
        popup,
    );
}
