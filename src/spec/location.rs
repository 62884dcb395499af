//! Maps key paths of a YAML document (`models[1].params.dropout`) to the line and
//! column where they are written.
//!
//! serde_yaml keeps no positions once a document is a `Value`, and the spec is
//! validated section by section from a `Value` so that one run reports every
//! error at once. This index, built from yaml-rust2's marked event stream, puts
//! the positions back.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Positions of every key and sequence element of one document.
#[derive(Debug, Default)]
pub struct PositionIndex {
    positions: HashMap<String, Position>,
}

impl PositionIndex {
    /// Indexes `text`. A document that does not parse yields an empty index: the
    /// parse error itself is reported by serde_yaml, with its own position.
    pub fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Self::default();
        }
        Self {
            positions: builder.positions,
        }
    }

    /// The position of `path`, or of its nearest written ancestor when `path`
    /// itself is absent (a missing key is reported where its parent is).
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut current = path;
        loop {
            if let Some(position) = self.positions.get(current) {
                return Some(*position);
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }
}

enum Frame {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
}

impl Builder {
    /// Path of the value that starts now, recording it; `None` when the event
    /// is a mapping key rather than a value.
    fn value_path(&mut self, scalar: Option<&str>, position: Position) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some(key) => Some(join(path, &key)),
                None => {
                    let key = scalar.unwrap_or("?").to_string();
                    self.positions.insert(join(path, &key), position);
                    *self.stack.last_mut().and_then(Frame::key_slot)? = Some(key);
                    None
                }
            },
            Some(Frame::Sequence { path, next }) => {
                let element = format!("{path}[{next}]");
                *next += 1;
                self.positions.insert(element.clone(), position);
                Some(element)
            }
        }
    }
}

impl Frame {
    fn key_slot(&mut self) -> Option<&mut Option<String>> {
        match self {
            Frame::Mapping { key, .. } => Some(key),
            Frame::Sequence { .. } => None,
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let position = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match event {
            Event::Scalar(text, ..) => {
                self.value_path(Some(&text), position);
            }
            Event::Alias(_) => {
                self.value_path(None, position);
            }
            // A container in key position (a YAML complex key) still gets a
            // frame, so that its end event pops the right one.
            Event::MappingStart(..) => {
                let path = self.value_path(None, position).unwrap_or_default();
                self.stack.push(Frame::Mapping { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(None, position).unwrap_or_default();
                self.stack.push(Frame::Sequence { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_sequence_elements() {
        let text = "name: x\nmodels:\n  - model: ease\n    params: {l2: 5}\n  - model: most_pop\n";
        let index = PositionIndex::build(text);
        assert_eq!(index.find("name"), Some(Position { line: 1, column: 1 }));
        assert_eq!(index.find("models[1]").map(|p| p.line), Some(5));
        assert_eq!(index.find("models[0].params.l2").map(|p| p.line), Some(4));
        // An absent key falls back to its parent.
        assert_eq!(index.find("models[1].params.dim").map(|p| p.line), Some(5));
    }
}
