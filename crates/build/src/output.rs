//! Turns the daemon's build and push streams into log lines, and remembers the build step
//! being run so a failure can name it.

/// Splits text that arrives in arbitrary pieces into whole lines.
#[derive(Debug, Default)]
pub struct Lines {
    partial: String,
}

impl Lines {
    /// Adds text; returns the lines it completed (without their newline).
    pub fn push(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for piece in text.split_inclusive('\n') {
            match piece.strip_suffix('\n') {
                Some(line) => {
                    self.partial
                        .push_str(line.strip_suffix('\r').unwrap_or(line));
                    out.push(std::mem::take(&mut self.partial));
                }
                None => self.partial.push_str(piece),
            }
        }
        out
    }

    /// The unterminated last line, if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

/// The classic builder announces each step as `Step N/M : INSTRUCTION`.
pub fn step_of(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Step ")?;
    let (counts, _) = rest.split_once(" : ")?;
    let (n, m) = counts.split_once('/')?;
    (n.bytes().all(|b| b.is_ascii_digit()) && m.bytes().all(|b| b.is_ascii_digit())).then_some(line)
}

/// The manifest digest in a push status line (`TAG: digest: sha256:… size: N`): the daemon
/// reports it only as text.
pub fn push_digest(status: &str) -> Option<String> {
    let (_, rest) = status.split_once("digest: ")?;
    let digest = rest.split_whitespace().next()?;
    let (algo, hex) = digest.split_once(':')?;
    (!algo.is_empty() && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_pieces() {
        let mut l = Lines::default();
        assert_eq!(l.push("Step 1/2 : FR"), Vec::<String>::new());
        assert_eq!(
            l.push("OM x\n ---> abc\r\nhal"),
            vec!["Step 1/2 : FROM x", " ---> abc"]
        );
        assert_eq!(l.push("f\n"), vec!["half"]);
        assert_eq!(l.finish(), None);
        l.push("tail");
        assert_eq!(l.finish().as_deref(), Some("tail"));
    }

    #[test]
    fn steps_and_digests() {
        assert_eq!(
            step_of("Step 2/3 : RUN false"),
            Some("Step 2/3 : RUN false")
        );
        assert_eq!(step_of("Step two : RUN"), None);
        assert_eq!(step_of("Stepping"), None);
        let d = "a".repeat(64);
        assert_eq!(
            push_digest(&format!("tilt-0123: digest: sha256:{d} size: 527")),
            Some(format!("sha256:{d}"))
        );
        assert_eq!(push_digest("Pushed"), None);
        assert_eq!(push_digest("x: digest: nonsense size: 1"), None);
    }
}
