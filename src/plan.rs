//! From a spec file to a plan the runner can trust: the spec parsed and
//! validated section by section (`spec`), then its sweep expanded against
//! every model (`sweep`), with the expansion's problems located in the file
//! like any other. A [`ValidSpec`] exists only when both succeeded, so
//! nothing downstream re-validates or assumes validation ran.

use std::ops::Deref;
use std::path::Path;

use crate::spec::{parse_spec_with, read_spec, Override, Spec, SpecError};
use crate::sweep::{self, Expansion};

/// A spec whose every section checks and whose sweep expands.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSpec {
    spec: Spec,
    expansion: Expansion,
}

impl ValidSpec {
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn expansion(&self) -> &Expansion {
        &self.expansion
    }

    pub fn into_parts(self) -> (Spec, Expansion) {
        (self.spec, self.expansion)
    }
}

impl Deref for ValidSpec {
    type Target = Spec;

    fn deref(&self) -> &Spec {
        &self.spec
    }
}

/// Reads and validates the spec at `path`.
pub fn load_spec(path: &Path, overrides: &[Override]) -> Result<ValidSpec, SpecError> {
    parse_spec(&read_spec(path)?, path, overrides)
}

/// Validates spec `text`; `file` names it in messages.
pub fn parse_spec(text: &str, file: &Path, overrides: &[Override]) -> Result<ValidSpec, SpecError> {
    let mut expansion = None;
    let spec = parse_spec_with(
        text,
        file,
        overrides,
        &mut |spec| match sweep::expand(spec) {
            Ok(e) => {
                expansion = Some(e);
                Vec::new()
            }
            Err(issues) => issues,
        },
    )?;
    let expansion = expansion.expect("parse_spec_with succeeds only after running `later`");
    Ok(ValidSpec { spec, expansion })
}
