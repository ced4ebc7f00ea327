//! Replacing inside one value without breaking its format: PHP-serialized data, JSON, or
//! plain text.
//!
//! - **PHP serialization** is edited as a format, never unserialized into objects, so any
//!   class name is fine. The serialized text is read token by token and written back with
//!   every string's `s:N:` byte length recomputed; strings inside nested arrays and objects
//!   (`O:`) are edited, array keys, property names and class names are not. A string that
//!   itself holds serialized data or JSON (WordPress stores both) is edited the same way.
//!   `C:` (custom-serialized objects) hold a format only their class knows: a match inside
//!   one refuses the value.
//! - **JSON** (an object or an array) keeps its bytes except for the strings that change;
//!   those are written back in the document's own style (`\/` for `/` and `\uXXXX` for
//!   non-ASCII when the document uses them). Keys are not edited.
//! - **base64** (on request, `--base64`): a value that is wholly base64 of UTF-8 text is
//!   decoded, edited as any value (it may hold serialized data or JSON) and encoded back
//!   with its alphabet (standard or URL-safe) and padding.
//! - A value that looks serialized but does not parse (lengths that do not match) is
//!   corrupt: it is left untouched and reported. Whatever the edit gives is parsed again
//!   before it is accepted; a result that would not parse is refused.

use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::pattern::Pattern;

/// What editing one value gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// No match (or matches only where nothing is edited: keys, class names).
    Unchanged,
    /// The new value and the number of replacements.
    Changed { value: String, count: usize },
    /// The value is already invalid; left untouched.
    Corrupt(String),
    /// Editing would break the value (or it cannot be edited safely); left untouched.
    Refused(String),
}

/// Which format a value was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Php,
    Json,
    Text,
}

/// Nesting deeper than this is refused (hostile input must not overflow the stack).
const MAX_DEPTH: usize = 256;

/// Replace `pattern` inside `value`, keeping its format valid.
pub fn edit_value(value: &str, pattern: &Pattern) -> Edit {
    edit_at(value, pattern, 0)
}

/// The format `value` is read as.
pub fn format_of(value: &str) -> Format {
    if looks_serialized(value.as_bytes()) {
        Format::Php
    } else if looks_json(value) {
        Format::Json
    } else {
        Format::Text
    }
}

fn edit_at(value: &str, pattern: &Pattern, depth: usize) -> Edit {
    if depth > MAX_DEPTH {
        return Edit::Corrupt("nested too deeply".into());
    }
    if pattern.base64()
        && let Some((text, engine)) = base64_text(value)
    {
        return match edit_at(&text, pattern, depth + 1) {
            Edit::Changed { value, count } => Edit::Changed {
                value: engine.encode(value),
                count,
            },
            other => other,
        };
    }
    // JSON may hide a match behind escapes (`\uXXXX`, `\/`, or JSON inside a JSON
    // string): a value without a match is read further only when it holds a backslash.
    if !pattern.is_match(value) && !value.contains('\\') {
        return Edit::Unchanged;
    }
    let result = match format_of(value) {
        Format::Php => {
            let mut w = PhpEditor {
                src: value.as_bytes(),
                pos: 0,
                out: Vec::with_capacity(value.len() + 16),
                count: 0,
                pattern: Some(pattern),
                depth,
            };
            match w.value(false) {
                Ok(()) if w.pos == w.src.len() => Ok((w.out, w.count)),
                Ok(()) => Err(Edit::Corrupt(format!(
                    "PHP-serialized value has {} bytes after its end",
                    w.src.len() - w.pos
                ))),
                Err(e) => Err(e),
            }
            .and_then(|(out, n)| {
                let out = String::from_utf8(out).expect("edited UTF-8 stays UTF-8");
                let mut check = PhpEditor {
                    src: out.as_bytes(),
                    pos: 0,
                    out: Vec::new(),
                    count: 0,
                    pattern: None, // structure only
                    depth: 0,
                };
                match check.value(false) {
                    Ok(()) if check.pos == out.len() => Ok((out, n)),
                    _ => Err(Edit::Refused(
                        "the edited PHP-serialized value would not parse".into(),
                    )),
                }
            })
        }
        Format::Json => edit_json(value, pattern, depth),
        Format::Text => Ok(pattern.replace(value)),
    };
    match result {
        Ok((_, 0)) => Edit::Unchanged,
        Ok((v, _)) if v == value => Edit::Unchanged,
        Ok((value, count)) => Edit::Changed { value, count },
        Err(e) => e,
    }
}

/// The text a value that is wholly base64 holds, and the alphabet and padding it was
/// written with (to write the edit back the same way). None unless the value decodes to
/// UTF-8 text without control characters (tab and line ends aside; any in serialized data)
/// and encodes back to
/// exactly itself. A value using neither `+/` nor `-_` is taken as the standard alphabet;
/// a URL-safe value without `=` is written back without padding, a standard one with it
/// (as PHP's `base64_encode` writes it).
pub fn base64_text(value: &str) -> Option<(String, &'static GeneralPurpose)> {
    if value.len() < 4
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b))
    {
        return None;
    }
    let url = value.contains(['-', '_']);
    if url && value.contains(['+', '/']) {
        return None;
    }
    let engine = match (url, value.ends_with('=')) {
        (false, true) => &STANDARD,
        (false, false) if value.len().is_multiple_of(4) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
    };
    let bytes = engine.decode(value).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    // Serialized objects name protected and private properties with NUL bytes.
    let texty = looks_serialized(text.as_bytes())
        || text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    (texty && !text.is_empty() && engine.encode(&text) == value).then_some((text, engine))
}

/// Starts like a serialized value and ends like one.
fn looks_serialized(v: &[u8]) -> bool {
    if v == b"N;" || v == b"b:0;" || v == b"b:1;" {
        return true;
    }
    let (Some(&first), Some(&last)) = (v.first(), v.last()) else {
        return false;
    };
    let digits_then = |rest: &[u8], then: &[u8]| {
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        n > 0 && rest[n..].starts_with(then)
    };
    let head = match (first, v.get(1)) {
        (b'a', Some(b':')) => digits_then(&v[2..], b":{"),
        (b'O' | b'C' | b's' | b'S' | b'E', Some(b':')) => digits_then(&v[2..], b":\""),
        (b'i' | b'd', Some(b':')) => v.len() > 3 && last == b';' && !v.contains(&b' '),
        _ => false,
    };
    head && matches!(last, b';' | b'}')
}

fn looks_json(v: &str) -> bool {
    let t = v.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok()
}

/// Reads serialized text token by token and writes the edited copy.
struct PhpEditor<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    count: usize,
    /// None: only check the structure.
    pattern: Option<&'a Pattern>,
    depth: usize,
}

impl PhpEditor<'_> {
    fn corrupt(&self, what: &str) -> Edit {
        Edit::Corrupt(format!(
            "PHP-serialized value is corrupt at byte {}: {what}",
            self.pos
        ))
    }

    fn expect(&mut self, b: &[u8]) -> Result<(), Edit> {
        if self.src[self.pos..].starts_with(b) {
            self.pos += b.len();
            Ok(())
        } else {
            Err(self.corrupt(&format!("expected {:?}", String::from_utf8_lossy(b))))
        }
    }

    fn number(&mut self) -> Result<usize, Edit> {
        let digits = self.src[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = std::str::from_utf8(&self.src[self.pos..self.pos + digits]).unwrap_or("");
        let n = text
            .parse::<usize>()
            .map_err(|_| self.corrupt("expected a length"))?;
        self.pos += digits;
        Ok(n)
    }

    /// `len:"bytes"` (the quotes included); returns where the bytes are.
    fn quoted(&mut self) -> Result<std::ops::Range<usize>, Edit> {
        let len = self.number()?;
        self.expect(b":\"")?;
        let start = self.pos;
        if self.src.len() < start + len + 1 || self.src[start + len] != b'"' {
            return Err(self.corrupt("a string's length does not match its text"));
        }
        self.pos = start + len + 1;
        Ok(start..start + len)
    }

    /// Copy a scalar that began at `start` up to and including `;`, checking its characters.
    fn scalar(&mut self, start: usize, allowed: fn(u8) -> bool) -> Result<(), Edit> {
        let n = self.src[self.pos..]
            .iter()
            .take_while(|&&b| allowed(b))
            .count();
        self.pos += n;
        if n == 0 {
            return Err(self.corrupt("expected a number"));
        }
        self.expect(b";")?;
        self.out.extend_from_slice(&self.src[start..self.pos]);
        Ok(())
    }

    /// Read one value (a key when `key`), writing its edited form.
    fn value(&mut self, key: bool) -> Result<(), Edit> {
        if self.depth > MAX_DEPTH {
            return Err(self.corrupt("nested too deeply"));
        }
        let start = self.pos;
        let tag = *self
            .src
            .get(self.pos)
            .ok_or_else(|| self.corrupt("ends early"))?;
        if tag == b'N' {
            self.expect(b"N;")?;
            self.out.extend_from_slice(b"N;");
            return Ok(());
        }
        self.pos += 1;
        self.expect(b":")?;
        match tag {
            b'i' => self.scalar(start, |b| b.is_ascii_digit() || b == b'-' || b == b'+'),
            b'b' if !key => self.scalar(start, |b| b == b'0' || b == b'1'),
            b'd' if !key => self.scalar(start, |b| {
                b.is_ascii_digit()
                    || matches!(
                        b,
                        b'.' | b'-' | b'+' | b'E' | b'e' | b'I' | b'N' | b'F' | b'A'
                    )
            }),
            b'r' | b'R' if !key => self.scalar(start, |b| b.is_ascii_digit()),
            b's' => {
                let at = self.quoted()?;
                self.expect(b";")?;
                let text = self.src[at].to_vec();
                let edited = match (std::str::from_utf8(&text), self.pattern) {
                    (Ok(s), Some(p)) if !key => match edit_at(s, p, self.depth + 1) {
                        Edit::Changed { value, count } => {
                            self.count += count;
                            value.into_bytes()
                        }
                        Edit::Unchanged => text,
                        other => return Err(other),
                    },
                    _ => text,
                };
                self.out
                    .extend_from_slice(format!("s:{}:\"", edited.len()).as_bytes());
                self.out.extend_from_slice(&edited);
                self.out.extend_from_slice(b"\";");
                Ok(())
            }
            b'a' if !key => {
                let n = self.number()?;
                self.expect(b":{")?;
                self.out.extend_from_slice(&self.src[start..self.pos]);
                self.members(n)
            }
            b'O' if !key => {
                self.quoted()?;
                self.expect(b":")?;
                let n = self.number()?;
                self.expect(b":{")?;
                self.out.extend_from_slice(&self.src[start..self.pos]);
                self.members(n)
            }
            b'E' if !key => {
                self.quoted()?;
                self.expect(b";")?;
                self.out.extend_from_slice(&self.src[start..self.pos]);
                Ok(())
            }
            b'C' if !key => {
                let at = self.quoted()?;
                let class = String::from_utf8_lossy(&self.src[at]).into_owned();
                self.expect(b":")?;
                let len = self.number()?;
                self.expect(b":{")?;
                let data_start = self.pos;
                if self.src.len() < data_start + len + 1 || self.src[data_start + len] != b'}' {
                    return Err(self.corrupt("a custom object's length does not match its data"));
                }
                self.pos = data_start + len + 1;
                let data = String::from_utf8_lossy(&self.src[data_start..data_start + len]);
                if self.pattern.is_some_and(|p| p.is_match(&data)) {
                    return Err(Edit::Refused(format!(
                        "a match is inside a custom-serialized object (C:) of class {class}, \
                         whose format only that class knows"
                    )));
                }
                self.out.extend_from_slice(&self.src[start..self.pos]);
                Ok(())
            }
            b'S' => Err(Edit::Refused(
                "escaped serialized strings (S:) are not edited".into(),
            )),
            _ => Err(self.corrupt(&format!("unknown type {:?}", tag as char))),
        }
    }

    fn members(&mut self, n: usize) -> Result<(), Edit> {
        self.depth += 1;
        for _ in 0..n {
            self.value(true)?;
            self.value(false)?;
        }
        self.depth -= 1;
        self.expect(b"}")?;
        self.out.push(b'}');
        Ok(())
    }
}

/// Edit the strings (not the keys) of a JSON document, keeping every other byte.
fn edit_json(doc: &str, pattern: &Pattern, depth: usize) -> Result<(String, usize), Edit> {
    let bytes = doc.as_bytes();
    let slash = doc.contains(r"\/");
    let unicode = has_non_ascii_escape(doc);
    let mut out = String::with_capacity(doc.len() + 16);
    let mut count = 0;
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i += 1; // past the closing quote
        let token = &doc[start..i];
        let after = doc[i..].trim_start();
        if after.starts_with(':') {
            continue; // a key
        }
        let text: String = serde_json::from_str(token)
            .map_err(|e| Edit::Corrupt(format!("JSON string at byte {start}: {e}")))?;
        match edit_at(&text, pattern, depth + 1) {
            Edit::Changed { value, count: n } => {
                out.push_str(&doc[last..start]);
                out.push_str(&json_string(&value, slash, unicode));
                last = i;
                count += n;
            }
            Edit::Unchanged => {}
            other => return Err(other),
        }
    }
    out.push_str(&doc[last..]);
    if serde_json::from_str::<serde::de::IgnoredAny>(&out).is_err() {
        return Err(Edit::Refused("the edited JSON would not parse".into()));
    }
    Ok((out, count))
}

/// Does the document escape some non-ASCII character as `\uXXXX`?
fn has_non_ascii_escape(doc: &str) -> bool {
    doc.match_indices(r"\u").any(|(i, _)| {
        doc.get(i + 2..i + 6)
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .is_some_and(|c| c >= 0x80)
    })
}

/// A JSON string literal: `/` as `\/` when `slash`, non-ASCII as `\uXXXX` when `unicode`
/// (lowercase hex and surrogate pairs, as PHP's `json_encode` writes them).
pub fn json_string(s: &str, slash: bool, unicode: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (unicode && !c.is_ascii()) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "serialized_tests.rs"]
mod tests;
