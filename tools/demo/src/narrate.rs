//! The demo's voice: step headers, live progress strips, checked claims, failures.
//!
//! The narration is for a person watching a terminal, so progress redraws in place and outcomes
//! are coloured; piped into a file or a test buffer it must stay plain and line-oriented. Colour
//! and in-place redraws are therefore decided once, by whether stdout is a terminal (and
//! `NO_COLOR` is unset), and every other module only says *what* to show.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::record::Kind;

/// ANSI styles used by the narration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bold.
    Bold,
    /// Grey, for asides.
    Dim,
    /// Green: healthy, checked.
    Green,
    /// Red: failures, open breaker.
    Red,
    /// Yellow: shed, injected, half-open.
    Yellow,
    /// Cyan: headings and commands.
    Cyan,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
        }
    }

    /// The style of a request outcome.
    pub fn of(kind: Kind) -> Style {
        match kind {
            Kind::Ok => Style::Green,
            Kind::Delayed | Kind::Shed | Kind::Injected => Style::Yellow,
            Kind::UpstreamError | Kind::Error => Style::Red,
            Kind::CircuitOpen => Style::Cyan,
        }
    }
}

/// How many glyphs a progress strip shows per line.
const STRIP_WIDTH: usize = 60;

#[derive(Debug, Default)]
struct Strip {
    label: String,
    glyphs: Vec<Kind>,
}

/// Writes the narration to stdout or to a buffer.
pub struct Narrator {
    out: Mutex<Box<dyn Write + Send>>,
    live: bool,
    strip: Mutex<Strip>,
}

impl std::fmt::Debug for Narrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Narrator")
            .field("live", &self.live)
            .finish()
    }
}

/// A buffer a [`Narrator`] writes into (for tests).
#[derive(Debug, Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether stdout is a terminal.
#[allow(unsafe_code)]
pub fn stdout_is_terminal() -> bool {
    // SAFETY: isatty(3) only inspects the descriptor number.
    unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
}

impl Narrator {
    /// Narrates to stdout: coloured and redrawn in place when it is a terminal.
    pub fn stdout() -> Self {
        let live = stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self::new(Box::new(std::io::stdout()), live)
    }

    /// Narrates plainly into a buffer; returns the buffer too.
    pub fn buffer() -> (Self, Buffer) {
        let buffer = Buffer::default();
        (Self::new(Box::new(buffer.clone()), false), buffer)
    }

    fn new(out: Box<dyn Write + Send>, live: bool) -> Self {
        Self {
            out: Mutex::new(out),
            live,
            strip: Mutex::new(Strip::default()),
        }
    }

    /// Whether colours and in-place redraws are on.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// `text` in `style` (plain when not live).
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.live {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_owned()
        }
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout (e.g. `| head`) must not stop the demo from cleaning up.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One line of text.
    pub fn line(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// The demo's title banner.
    pub fn banner(&self, title: &str, subtitle: &str) {
        self.line(&self.paint(Style::Bold, title));
        self.line(&self.paint(Style::Dim, subtitle));
    }

    /// A step header: `[2/7] Title` and what it will show.
    pub fn step(&self, number: usize, total: usize, title: &str, what: &str) {
        self.line("");
        let head = format!("[{number}/{total}] {title}");
        self.line(&self.paint(Style::Bold, &self.paint(Style::Cyan, &head)));
        self.line(&format!("      {what}"));
    }

    /// An indented line of narration.
    pub fn say(&self, text: &str) {
        self.line(&format!("      {text}"));
    }

    /// A checked claim.
    pub fn pass(&self, claim: &str) {
        self.line(&format!("      {} {claim}", self.paint(Style::Green, "✔")));
    }

    /// A claim that did not hold.
    pub fn fail(&self, claim: &str, detail: &str) {
        self.line(&format!("      {} {claim}", self.paint(Style::Red, "✘")));
        for l in detail.lines() {
            self.line(&format!("        {}", self.paint(Style::Red, l)));
        }
    }

    /// Starts a progress strip: one glyph per request, redrawn live.
    pub fn strip_start(&self, label: &str) {
        let mut strip = self.strip.lock().unwrap_or_else(|p| p.into_inner());
        *strip = Strip {
            label: label.to_owned(),
            glyphs: Vec::new(),
        };
    }

    /// Adds one outcome to the strip.
    pub fn strip_push(&self, kind: Kind) {
        let mut strip = self.strip.lock().unwrap_or_else(|p| p.into_inner());
        strip.glyphs.push(kind);
        if self.live {
            let n = strip.glyphs.len();
            let line_start = (n - 1) / STRIP_WIDTH * STRIP_WIDTH;
            let text = self.strip_line(&strip, line_start);
            // Finished a full line: move on; otherwise redraw the current one.
            let end = if n.is_multiple_of(STRIP_WIDTH) {
                "\n"
            } else {
                ""
            };
            drop(strip);
            self.write(&format!("\r{text}{end}"));
        }
    }

    fn strip_line(&self, strip: &Strip, from: usize) -> String {
        let glyphs: String = strip.glyphs[from..]
            .iter()
            .take(STRIP_WIDTH)
            .map(|k| self.paint(Style::of(*k), &k.glyph().to_string()))
            .collect();
        let label = if from == 0 { strip.label.as_str() } else { "" };
        format!("      {label:<10} {glyphs}")
    }

    /// Ends the strip with a count line.
    pub fn strip_end(&self) {
        let strip = std::mem::take(&mut *self.strip.lock().unwrap_or_else(|p| p.into_inner()));
        let n = strip.glyphs.len();
        if self.live {
            if !n.is_multiple_of(STRIP_WIDTH) {
                self.write("\n");
            }
        } else {
            for from in (0..n).step_by(STRIP_WIDTH) {
                self.line(&self.strip_line(&strip, from));
            }
        }
        let mut counts: Vec<(Kind, usize)> = Kind::ALL
            .iter()
            .map(|k| (*k, strip.glyphs.iter().filter(|g| *g == k).count()))
            .filter(|(_, c)| *c > 0)
            .collect();
        counts.sort_by_key(|(k, _)| *k);
        let text: Vec<String> = counts
            .iter()
            .map(|(k, c)| self.paint(Style::of(*k), &format!("{c} {}", k.label())))
            .collect();
        self.say(&format!("{:<10} {n} requests: {}", "", text.join(", ")));
    }

    /// A countdown redrawn in place (printed once when not live).
    pub fn countdown(&self, label: &str, remaining: Duration, first: bool) {
        let text = format!("      {label} {:>4.1} s ", remaining.as_secs_f64());
        if self.live {
            self.write(&format!("\r{}", self.paint(Style::Dim, &text)));
        } else if first {
            self.line(&text);
        }
    }

    /// Ends a countdown line.
    pub fn countdown_end(&self) {
        if self.live {
            self.write("\r\x1b[2K");
        }
    }
}

/// The legend of the progress glyphs.
pub fn legend(n: &Narrator) -> String {
    Kind::ALL
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                n.paint(Style::of(*k), &k.glyph().to_string()),
                k.label()
            )
        })
        .collect::<Vec<_>>()
        .join("  ")
}
