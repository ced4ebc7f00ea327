//! Tools that are not built yet. Each says what it will do and where the work stands,
//! so no screen of the palette is ever a blank pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Screen, ScreenId};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx};
use crate::app::strings;

/// A tool that is planned: it shows its description.
pub struct Planned {
    id: ScreenId,
}

impl Planned {
    pub fn new(id: ScreenId) -> Planned {
        Planned { id }
    }
}

impl Screen for Planned {
    fn id(&self) -> ScreenId {
        self.id
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let (summary, points) = strings::planned(self.id);
        let mut lines = vec![
            Line::from(Span::styled(summary, t.accent)),
            Line::default(),
            Line::from(Span::styled(strings::PLANNED_INTRO, t.dim)),
        ];
        lines.extend(
            points
                .iter()
                .map(|p| Line::from(vec![Span::styled("  • ", t.dim), Span::styled(*p, t.base)])),
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(
                format!(" {} · planned ", self.id.title()),
                t.title,
            ));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block)
                .style(t.base),
            area,
        );
    }

    fn command(&mut self, _id: Cmd, _ctx: &mut Ctx) -> bool {
        false
    }
}
